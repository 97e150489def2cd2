name 'mysql_legacy'
version '5.6.3'
depends 'openssl'
recommends 'database', '>= 1.0'
suggests 'mysql-chef_gem'
conflicts 'mariadb'
replaces 'mysql-server', '< 5.0'
grouping 'mysql/tunable', :title => 'MySQL Tunables', :description => 'Tunables'
attribute 'mysql/server_root_password',
  :display_name => 'MySQL Server Root Password',
  :description => 'Randomly generated password',
  :default => 'randomly generated'
