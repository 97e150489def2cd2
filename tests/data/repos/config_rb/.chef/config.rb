# config.rb is read before knife.rb, as knife does.
node_name       'from-config-rb'
client_key      'keys/uploader.pem'
chef_server_url 'http://127.0.0.1:4545'
cookbook_path   ['cookbooks', 'site-cookbooks']
