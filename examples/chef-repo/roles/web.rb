# A role in Chef's Ruby DSL: evaluated by chef-sync's sandbox, never by Ruby.
name 'web'
description 'Front-end web servers'
run_list 'role[base]', 'nginx_proxy', 'app_web::default'
env_run_lists 'production' => ['role[base]', 'nginx_proxy', 'app_web']
default_attributes 'nginx_proxy' => { 'listen_port' => 8080 }
