package spec

// keyShape is what berth implements of one value of a stack file. A nil
// *keyShape is a value berth takes as a whole, whatever is written under
// it: a scalar, a list of strings, or user data (labels, environment,
// sysctls, build args), whose keys are the user's and never warned.
type keyShape struct {
	// fields are the keys berth implements when the value is a mapping
	// with fixed keys; every other key is warned.
	fields map[string]*keyShape
	// names is the shape of each value when the value is a mapping keyed
	// by names the user chooses (services, networks, ulimits).
	names *keyShape
	// items is the shape of each item when the value is a sequence (the
	// long syntax of ports, volumes...; a string item is a short one).
	items *keyShape
	// values, when set, are the only scalar values berth implements; any
	// other is warned (one with a ${variable} is not checked).
	values []string
	// obsolete, when set, is warned whenever the key is written.
	obsolete string
}

// shapeOf builds a keyShape with fixed keys.
func shapeOf(fields map[string]*keyShape) *keyShape { return &keyShape{fields: fields} }

// berthImplements is the part of the Compose file format that berth carries
// out, in one table so that it is easy to keep true. Every key the
// Compose specification defines and this table does not list is reported
// by sourceIndex.unimplemented as a warning (an error with --strict) with
// its file, line and column: berth never ignores a key silently. Keys
// starting with "x-" are extensions, never warned.
//
// A key is listed when spec carries it into the Stack (or compose-go
// folds it into one that is: env_file, extends, include, profiles), so
// this table follows the model in service.go and stack.go.
var berthImplements = shapeOf(map[string]*keyShape{
	"name":     nil,
	"version":  {obsolete: "version is obsolete; it is ignored"},
	"include":  nil, // compose-go reads the included files
	"services": {names: serviceImplements},
	"networks": {names: shapeOf(map[string]*keyShape{
		"name":        nil,
		"driver":      {values: []string{"bridge"}},
		"driver_opts": nil,
		"ipam": shapeOf(map[string]*keyShape{
			"config": {items: shapeOf(map[string]*keyShape{
				"subnet":   nil,
				"gateway":  nil,
				"ip_range": nil,
			})},
		}),
		"internal":    nil,
		"enable_ipv6": nil,
		"labels":      nil,
		"external":    nil,
	})},
	"volumes": {names: shapeOf(map[string]*keyShape{
		"name":        nil,
		"driver":      {values: []string{"local"}},
		"driver_opts": nil,
		"labels":      nil,
		"external":    nil,
	})},
	"configs": {names: shapeOf(map[string]*keyShape{
		"name":        nil,
		"file":        nil,
		"content":     nil,
		"environment": nil,
		"external":    nil,
		"labels":      nil,
	})},
	"secrets": {names: shapeOf(map[string]*keyShape{
		"name":        nil,
		"file":        nil,
		"environment": nil,
		"external":    nil,
		"labels":      nil,
	})},
})

// serviceImplements is the part of a service berth carries out.
var serviceImplements = shapeOf(map[string]*keyShape{
	"image": nil,
	"build": shapeOf(map[string]*keyShape{
		"context":           nil,
		"dockerfile":        nil,
		"dockerfile_inline": nil,
		"args":              nil,
		"target":            nil,
		"network":           nil,
		"labels":            nil,
	}),
	"command":     nil,
	"entrypoint":  nil,
	"environment": nil,
	"env_file":    nil, // compose-go folds it into environment
	"ports": {items: shapeOf(map[string]*keyShape{
		"target":    nil,
		"published": nil,
		"host_ip":   nil,
		"protocol":  nil,
	})},
	"expose": nil,
	"volumes": {items: shapeOf(map[string]*keyShape{
		"type":      nil,
		"source":    nil,
		"target":    nil,
		"read_only": nil,
		"bind": shapeOf(map[string]*keyShape{
			"create_host_path": nil,
			"propagation":      nil,
		}),
		"volume": shapeOf(map[string]*keyShape{
			"nocopy":  nil,
			"subpath": nil,
		}),
		"tmpfs": shapeOf(map[string]*keyShape{
			"size": nil,
			"mode": nil,
		}),
	})},
	"tmpfs": nil,
	"networks": {names: shapeOf(map[string]*keyShape{
		"aliases":      nil,
		"ipv4_address": nil,
		"ipv6_address": nil,
		"priority":     nil,
	})},
	"depends_on": {names: shapeOf(map[string]*keyShape{
		"condition": nil,
		"restart":   nil,
		"required":  nil,
	})},
	"healthcheck": shapeOf(map[string]*keyShape{
		"test":           nil,
		"interval":       nil,
		"timeout":        nil,
		"retries":        nil,
		"start_period":   nil,
		"start_interval": nil,
		"disable":        nil,
	}),
	"restart": nil,
	"deploy": shapeOf(map[string]*keyShape{
		"replicas": nil,
		"resources": shapeOf(map[string]*keyShape{
			"limits": shapeOf(map[string]*keyShape{
				"cpus":   nil,
				"memory": nil,
				"pids":   nil,
			}),
			"reservations": shapeOf(map[string]*keyShape{
				"cpus":   nil,
				"memory": nil,
			}),
		}),
		"restart_policy": shapeOf(map[string]*keyShape{
			"condition":    nil,
			"delay":        nil,
			"max_attempts": nil,
			"window":       nil,
		}),
		"update_config": shapeOf(map[string]*keyShape{
			"parallelism":    nil,
			"delay":          nil,
			"order":          nil,
			"failure_action": nil,
			"monitor":        nil,
		}),
	}),
	"scale":             nil,
	"mem_limit":         nil,
	"memswap_limit":     nil,
	"cpus":              nil,
	"cpu_shares":        nil,
	"pids_limit":        nil,
	"user":              nil,
	"working_dir":       nil,
	"hostname":          nil,
	"domainname":        nil,
	"extra_hosts":       nil,
	"dns":               nil,
	"cap_add":           nil,
	"cap_drop":          nil,
	"privileged":        nil,
	"read_only":         nil,
	"sysctls":           nil,
	"ulimits":           {names: shapeOf(map[string]*keyShape{"soft": nil, "hard": nil})},
	"init":              nil,
	"stop_signal":       nil,
	"stop_grace_period": nil,
	"labels":            nil,
	"logging": shapeOf(map[string]*keyShape{
		"driver":  {values: []string{"json-file", "local"}},
		"options": shapeOf(map[string]*keyShape{"max-size": nil, "max-file": nil}),
	}),
	"develop": shapeOf(map[string]*keyShape{
		"watch": {items: shapeOf(map[string]*keyShape{
			"path":         nil,
			"action":       nil,
			"target":       nil,
			"ignore":       nil,
			"include":      nil,
			"initial_sync": nil,
			"exec": shapeOf(map[string]*keyShape{
				"command":     nil,
				"user":        nil,
				"privileged":  nil,
				"working_dir": nil,
				"environment": nil,
			}),
		})},
	}),
	"configs":        {items: fileMountImplements},
	"secrets":        {items: fileMountImplements},
	"extends":        nil, // compose-go merges the extended service
	"profiles":       nil, // compose-go drops the services of profiles not enabled
	"container_name": nil,
})

// fileMountImplements is the long syntax of a service's configs and
// secrets.
var fileMountImplements = shapeOf(map[string]*keyShape{
	"source": nil,
	"target": nil,
	"uid":    nil,
	"gid":    nil,
	"mode":   nil,
})
