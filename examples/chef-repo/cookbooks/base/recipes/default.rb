#
# Cookbook:: base
# Recipe:: default
#
package node['base']['packages']

cookbook_file '/etc/sysctl.d/60-hardening.conf' do
  source 'sysctl-hardening.conf'
  mode '0644'
  notifies :run, 'execute[reload sysctl]', :immediately
end

execute 'reload sysctl' do
  command 'sysctl --system'
  action :nothing
end

template '/etc/motd' do
  source 'motd.erb'
  mode '0644'
  variables(region: node['base']['region'], owner: node['base']['motd_owner'])
end
