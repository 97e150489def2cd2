unified_mode true
provides :nginx_proxy_site

property :upstream, String, required: true
property :server_name, String, name_property: true

action :create do
  template nginx_site_path(new_resource.server_name) do
    cookbook 'nginx_proxy'
    source 'site.conf.erb'
    variables(server_name: new_resource.server_name, upstream: new_resource.upstream)
    notifies :reload, 'service[nginx]'
  end
end
