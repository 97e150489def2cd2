name 'heredoc'
version '1.1.0'
long_description <<~EOH
  # heredoc

  Indented text is dedented:
    - like this
EOH
