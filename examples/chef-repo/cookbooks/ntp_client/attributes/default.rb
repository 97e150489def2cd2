default['ntp_client']['servers'] = %w(169.254.169.123)
