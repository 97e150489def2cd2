default['nginx_proxy']['worker_connections'] = 1024
default['nginx_proxy']['client_max_body_size'] = '16m'
