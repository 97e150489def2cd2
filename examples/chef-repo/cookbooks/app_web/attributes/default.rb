default['app_web']['port'] = 8080
default['app_web']['release'] = '2026.11.3'
