# A hand-written workstation knife.rb with TLS, proxy and knife[] settings.
current_dir = File.dirname(__FILE__)
user = ENV['CHEF_USER'] || 'ci-uploader'

log_level                :warn
log_location             STDOUT
node_name                user
client_key               "#{current_dir}/#{user}.pem"
validation_client_name   'chef-validator'
validation_key           "#{current_dir}/validator.pem"
chef_server_url          "https://127.0.0.1:8443/organizations/acme"
cache_type               'BasicFile'
cache_options( :path => "#{ENV['HOME']}/.chef/checksums" )
cookbook_path            "#{current_dir}/../site-cookbooks"
ssl_verify_mode          :verify_none
ssl_ca_path              "#{current_dir}/trusted_certs"
http_proxy               'http://127.0.0.1:3128'
https_proxy              ENV.fetch('HTTPS_PROXY', 'http://127.0.0.1:3129')
no_proxy                 'localhost,127.0.0.1'

knife[:supermarket_site] = 'https://127.0.0.1:7443'
knife[:vault_mode] = :client
knife[:secret_file] = File.join(current_dir, 'encrypted_data_bag_secret')

fancy_new_option         true
another_unknown          'x'
fancy_new_option         false
ssl_verify_mod           :verify_peer
