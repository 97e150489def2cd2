name 'two_part'
version '2.1'
depends 'base', '~> 2.1'
depends 'other', '~> 1.0.3'
