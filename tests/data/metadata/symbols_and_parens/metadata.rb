name('symbolic')
version('0.2.0')
supports(:ubuntu, '>= 20.04')
supports :windows
depends(:apt)
depends :yum, '~> 7.0'
