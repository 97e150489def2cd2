include_recipe 'base'

package 'nginx'

service 'nginx' do
  supports reload: true
  action [:enable, :start]
end
