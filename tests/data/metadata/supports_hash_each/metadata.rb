name 'haproxy_ng'
version '1.2.3'
{
  'ubuntu' => '>= 18.04',
  'centos' => '~>7.0',
  'debian' => '> 9',
}.each { |platform, constraint| supports platform, constraint }
