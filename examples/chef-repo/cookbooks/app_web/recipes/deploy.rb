user 'checkout' do
  system true
  shell '/usr/sbin/nologin'
end

directory '/srv/checkout' do
  owner 'checkout'
  mode '0755'
end

cookbook_file '/srv/checkout/health.html' do
  source 'health.html'
  owner 'checkout'
end

template '/etc/systemd/system/checkout.service' do
  source 'checkout.service.erb'
  variables(port: node['app_web']['port'], release: node['app_web']['release'])
end
