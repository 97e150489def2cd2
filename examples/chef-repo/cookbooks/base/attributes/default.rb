default['base']['packages'] = %w(curl jq unzip)
default['base']['region'] = 'unknown'
default['base']['motd_owner'] = 'Platform Team <platform@example.com>'
