package scheduler

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/spec"
)

func svc(name, img string, opts ...func(*spec.Service)) *spec.Service {
	s := &spec.Service{Name: name, Image: img, Replicas: 1,
		Networks: map[string]spec.ServiceNetwork{"default": {}},
		Restart:  spec.RestartPolicy{Name: spec.RestartNo}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func replicas(n int) func(*spec.Service) { return func(s *spec.Service) { s.Replicas = n } }

func dependsOn(dep, cond string) func(*spec.Service) {
	return func(s *spec.Service) {
		if s.DependsOn == nil {
			s.DependsOn = map[string]spec.Dependency{}
		}
		s.DependsOn[dep] = spec.Dependency{Condition: cond, Required: true}
	}
}

func stack(services ...*spec.Service) *spec.Stack {
	st := &spec.Stack{Name: "app", Services: map[string]*spec.Service{},
		Networks: map[string]*spec.Network{"default": {Name: "app_default"}}}
	for _, s := range services {
		st.Services[s.Name] = s
	}
	return st
}

// up is the host after a successful up of st: every replica running,
// the network and images there.
func up(st *spec.Stack) Observed {
	o := Observed{Networks: map[string]bool{}, Images: map[string]string{}}
	for _, nw := range st.Networks {
		o.Networks[nw.Name] = true
	}
	for _, name := range st.ServiceNames() {
		s := st.Services[name]
		o.Images[name] = "sha256:" + name
		for n := 1; n <= s.Replicas; n++ {
			o.Replicas = append(o.Replicas, ctr(st, s, n, StateRunning))
		}
	}
	return o
}

func ctr(st *spec.Stack, s *spec.Service, n int, state ReplicaState) Replica {
	name := ReplicaName(st, s, n)
	return Replica{ID: "id-" + name, Name: name, Service: s.Name, Number: n, Hash: s.ConfigHash(), ImageID: "sha256:" + s.Name, State: state}
}

func TestPlanFor(t *testing.T) {
	web := svc("web", "nginx:1.27", replicas(2), dependsOn("db", spec.ConditionHealthy))
	db := svc("db", "postgres:16")
	full := stack(web, db)
	// web's image bumped in the file, the stack up as it was before.
	bumped := stack(svc("web", "nginx:1.28", replicas(2), dependsOn("db", spec.ConditionHealthy)), db)
	upBeforeBump := up(full)
	upBeforeBump.Images["web"] = "sha256:web"

	tests := []struct {
		name string
		want *spec.Stack
		have Observed
		opts PlanOptions
		plan string
	}{{
		name: "fresh",
		want: full,
		have: Observed{},
		plan: `
#0 create-network network:app_default  missing
#1 pull           image:postgres:16  missing
#2 pull           image:nginx:1.27  missing
#3 create         container:app-db-1  missing after #0,#1
#4 start          container:app-db-1  created after #3
#5 wait           service:db  healthy, for web after #4
#6 create         container:app-web-1  missing after #0,#2,#5
#7 start          container:app-web-1  created after #6
#8 create         container:app-web-2  missing after #0,#2,#5
#9 start          container:app-web-2  created after #8
`,
	}, {
		name: "up twice plans nothing",
		want: full,
		have: up(full),
		plan: ``,
	}, {
		name: "image bumped",
		want: bumped,
		have: upBeforeBump,
		plan: `
#0 wait           service:db  healthy, for web
#1 stop           container:app-web-1  config changed after #0
#2 remove         container:app-web-1  config changed after #1
#3 create         container:app-web-1  config changed after #2
#4 start          container:app-web-1  created after #3
#5 stop           container:app-web-2  config changed after #0
#6 remove         container:app-web-2  config changed after #5
#7 create         container:app-web-2  config changed after #6
#8 start          container:app-web-2  created after #7
`,
	}, {
		name: "--no-recreate keeps a changed service's replicas",
		want: bumped,
		have: upBeforeBump,
		opts: PlanOptions{NoRecreate: true},
		plan: ``,
	}, {
		name: "--force-recreate recreates what did not change",
		want: stack(svc("db", "postgres:16")),
		have: up(stack(svc("db", "postgres:16"))),
		opts: PlanOptions{ForceRecreate: true},
		plan: `
#0 stop           container:app-db-1  --force-recreate
#1 remove         container:app-db-1  --force-recreate after #0
#2 create         container:app-db-1  --force-recreate after #1
#3 start          container:app-db-1  created after #2
`,
	}, {
		name: "same name, new image id",
		want: full,
		have: func() Observed {
			o := up(full)
			o.Images["db"] = "sha256:db-rebuilt"
			return o
		}(),
		plan: `
#0 stop           container:app-db-1  image changed
#1 remove         container:app-db-1  image changed after #0
#2 create         container:app-db-1  image changed after #1
#3 start          container:app-db-1  created after #2
`,
	}, {
		name: "scale up and down",
		want: stack(svc("web", "nginx:1.27", replicas(4)), svc("db", "postgres:16", replicas(1))),
		have: up(stack(svc("web", "nginx:1.27", replicas(2)), svc("db", "postgres:16", replicas(3)))),
		plan: `
#0 stop           container:app-db-3  scaled down
#1 remove         container:app-db-3  scaled down after #0
#2 stop           container:app-db-2  scaled down
#3 remove         container:app-db-2  scaled down after #2
#4 create         container:app-web-3  missing
#5 start          container:app-web-3  created after #4
#6 create         container:app-web-4  missing
#7 start          container:app-web-4  created after #6
`,
	}, {
		name: "--scale overrides the file",
		want: full,
		have: up(full),
		opts: PlanOptions{Scale: map[string]int{"web": 1}},
		plan: `
#0 stop           container:app-web-2  scaled down
#1 remove         container:app-web-2  scaled down after #0
`,
	}, {
		name: "an exited replica is replaced, after its dependency is healthy",
		want: full,
		have: func() Observed {
			o := up(full)
			o.Replicas[2].State = StateExited // web-2
			return o
		}(),
		plan: `
#0 wait           service:db  healthy, for web
#1 remove         container:app-web-2  exited after #0
#2 create         container:app-web-2  exited after #1
#3 start          container:app-web-2  created after #2
`,
	}, {
		name: "a created replica is started",
		want: stack(db),
		have: func() Observed {
			o := up(stack(db))
			o.Replicas[0].State = StateCreated
			return o
		}(),
		plan: `
#0 start          container:app-db-1  not running
`,
	}, {
		name: "orphans are reported, not removed",
		want: stack(db),
		have: up(full),
		plan: `
warning: container app-web-1 belongs to service "web", which the stack file no longer has; remove it with --remove-orphans
warning: container app-web-2 belongs to service "web", which the stack file no longer has; remove it with --remove-orphans
`,
	}, {
		name: "--remove-orphans",
		want: stack(db),
		have: up(full),
		opts: PlanOptions{RemoveOrphans: true},
		plan: `
#0 stop           container:app-web-1  not in the stack file
#1 remove         container:app-web-1  not in the stack file after #0
#2 stop           container:app-web-2  not in the stack file
#3 remove         container:app-web-2  not in the stack file after #2
`,
	}, {
		name: "a service and what it depends on",
		want: stack(web, db, svc("cache", "redis:7")),
		have: Observed{Networks: map[string]bool{"app_default": true}, Images: map[string]string{"web": "w", "db": "d", "cache": "c"}},
		opts: PlanOptions{Services: []string{"web"}},
		plan: `
#0 create         container:app-db-1  missing
#1 start          container:app-db-1  created after #0
#2 wait           service:db  healthy, for web after #1
#3 create         container:app-web-1  missing after #2
#4 start          container:app-web-1  created after #3
#5 create         container:app-web-2  missing after #2
#6 start          container:app-web-2  created after #5
`,
	}, {
		name: "duplicate replica from a crash",
		want: stack(db),
		have: func() Observed {
			o := up(stack(db))
			dup := o.Replicas[0]
			dup.ID, dup.State = "id-zzz", StateCreated
			o.Replicas = append(o.Replicas, dup)
			return o
		}(),
		plan: `
#0 remove         container:app-db-1  duplicate of replica 1
`,
	}, {
		name: "--no-start creates only",
		want: stack(db),
		have: Observed{Networks: map[string]bool{"app_default": true}, Images: map[string]string{"db": "d"}},
		opts: PlanOptions{NoStart: true},
		plan: `
#0 create         container:app-db-1  missing
`,
	}, {
		name: "rolling, stop-first, one at a time",
		want: stack(svc("web", "nginx:2", replicas(2), func(s *spec.Service) {
			s.UpdateConfig = spec.UpdateConfig{Parallelism: 1, Order: "stop-first"}
		})),
		have: up(stack(svc("web", "nginx", replicas(2)))),
		plan: `
#0 stop           container:app-web-1  config changed
#1 remove         container:app-web-1  config changed after #0
#2 create         container:app-web-1  config changed after #1
#3 start          container:app-web-1  created after #2
#4 stop           container:app-web-2  config changed after #3
#5 remove         container:app-web-2  config changed after #4
#6 create         container:app-web-2  config changed after #5
#7 start          container:app-web-2  created after #6
`,
	}, {
		name: "rolling, start-first, with a delay",
		want: stack(svc("web", "nginx:2", replicas(2), func(s *spec.Service) {
			s.UpdateConfig = spec.UpdateConfig{Parallelism: 1, Order: "start-first", Delay: 2 * time.Second}
		})),
		have: up(stack(svc("web", "nginx", replicas(2)))),
		plan: `
#0 rename         container:app-web-1  config changed, start-first: to id-app-web-1_app-web-1
#1 create         container:app-web-1  config changed after #0
#2 start          container:app-web-1  created after #1
#3 wait-ready     container:app-web-1  ready before the old one stops after #2
#4 drain          container:id-app-web-1_app-web-1  out of DNS before it stops after #3
#5 stop           container:id-app-web-1_app-web-1  config changed after #4
#6 remove         container:id-app-web-1_app-web-1  config changed after #5
#7 delay          service:web  update_config delay 2s after #3,#6
#8 rename         container:app-web-2  config changed, start-first: to id-app-web-2_app-web-2 after #7
#9 create         container:app-web-2  config changed after #8
#10 start          container:app-web-2  created after #9
#11 wait-ready     container:app-web-2  ready before the old one stops after #10
#12 drain          container:id-app-web-2_app-web-2  out of DNS before it stops after #11
#13 stop           container:id-app-web-2_app-web-2  config changed after #12
#14 remove         container:id-app-web-2_app-web-2  config changed after #13
`,
	}, {
		name: "depends_on restart: true recreates the dependents of a recreated service",
		want: stack(svc("web", "nginx", func(s *spec.Service) {
			s.DependsOn = map[string]spec.Dependency{"db": {Condition: spec.ConditionStarted, Restart: true, Required: true}}
		}), svc("db", "postgres:17")),
		have: up(stack(svc("web", "nginx", func(s *spec.Service) {
			s.DependsOn = map[string]spec.Dependency{"db": {Condition: spec.ConditionStarted, Restart: true, Required: true}}
		}), svc("db", "postgres:16"))),
		plan: `
#0 stop           container:app-db-1  config changed
#1 remove         container:app-db-1  config changed after #0
#2 create         container:app-db-1  config changed after #1
#3 start          container:app-db-1  created after #2
#4 stop           container:app-web-1  dependency db recreated after #3
#5 remove         container:app-web-1  dependency db recreated after #4
#6 create         container:app-web-1  dependency db recreated after #5
#7 start          container:app-web-1  created after #6
`,
	}, {
		name: "one pull for services sharing an image, a build for built ones",
		want: stack(svc("a", "busybox"), svc("b", "busybox"), svc("c", "", func(s *spec.Service) { s.Build = &spec.Build{Context: "/src"} })),
		have: Observed{Networks: map[string]bool{"app_default": true}},
		plan: `
#0 pull           image:busybox  missing
#1 build          image:app-c  missing
#2 create         container:app-a-1  missing after #0
#3 start          container:app-a-1  created after #2
#4 create         container:app-b-1  missing after #0
#5 start          container:app-b-1  created after #4
#6 create         container:app-c-1  missing after #1
#7 start          container:app-c-1  created after #6
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planFor(tt.want, tt.have, tt.opts).String()
			if want := strings.TrimPrefix(tt.plan, "\n"); got != want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, want)
			}
			// Plans are deterministic.
			if again := planFor(tt.want, tt.have, tt.opts).String(); again != got {
				t.Errorf("a second plan differs:\n%s", again)
			}
		})
	}
}

func TestPlanFor_StepsComeAfterTheirDependencies(t *testing.T) {
	var svcs []*spec.Service
	for i := range 10 {
		s := svc("s"+strconv.Itoa(i), "img", replicas(3))
		if i > 0 {
			dependsOn("s"+strconv.Itoa(i-1), spec.ConditionStarted)(s)
		}
		svcs = append(svcs, s)
	}
	p := planFor(stack(svcs...), Observed{}, PlanOptions{})
	for i, s := range p.Steps {
		for _, a := range s.After {
			if a >= i {
				t.Errorf("step #%d comes after #%d, which is not earlier", i, a)
			}
		}
	}
}
