echo tick
