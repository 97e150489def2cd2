include_recipe 'base'

package 'chrony'

template '/etc/chrony/chrony.conf' do
  source 'chrony.conf.erb'
  variables(servers: node['ntp_client']['servers'])
  notifies :restart, 'service[chrony]'
end

service 'chrony' do
  action [:enable, :start]
end
