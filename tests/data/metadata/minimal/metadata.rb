name 'minimal'
