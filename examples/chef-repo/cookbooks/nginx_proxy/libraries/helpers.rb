module NginxProxy
  module Helpers
    def nginx_site_path(name)
      ::File.join('/etc/nginx/sites-enabled', "#{name}.conf")
    end
  end
end

Chef::DSL::Recipe.include(NginxProxy::Helpers)
Chef::Resource.include(NginxProxy::Helpers)
