node_name       'from-knife-rb'
chef_server_url 'http://127.0.0.1:9999'
