include_recipe 'ntp_client'
include_recipe 'nginx_proxy'
include_recipe 'app_web::deploy'

nginx_proxy_site 'checkout.example.com' do
  upstream "http://127.0.0.1:#{node['app_web']['port']}"
end
