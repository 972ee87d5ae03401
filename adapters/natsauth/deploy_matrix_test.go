package natsauth_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// TestPermissionMatrixOnTheDeployCluster checks the same matrix on a 3-node cluster whose
// servers are configured by deploy/nats/n*.conf (auth.conf included: no anonymous client,
// users signed in through auth callout), with the service's identity, the callout seed and
// the system account user of deploy/entityconn.env, as docker-compose.yml runs them.
func TestPermissionMatrixOnTheDeployCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	_, url := natsjstest.ClusterFromFiles(t, "../../deploy/nats/n1.conf", "../../deploy/nats/n2.conf", "../../deploy/nats/n3.conf")
	env := natsjstest.EnvFile(t, "../../deploy/entityconn.env")
	id := natsauth.Identity{User: env["NATS_USER"], Password: env["NATS_PASSWORD"], CalloutSeed: env["ENTITYCONN_AUTH_CALLOUT_SEED"]}
	sys := natsjstest.Connect(t, url, nats.UserInfo(env["NATS_SYSTEM_USER"], env["NATS_SYSTEM_PASSWORD"]))
	st := apptest.StartOn(t, url, id, 3, natsauth.SystemKicker{NC: sys, Wait: 500 * time.Millisecond})
	api, err := natsapi.Start(st.NC, st.Executor, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Stop)
	door, err := natscmd.Start(t.Context(), st.NC, st.Executor, natscmd.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(door.Stop)
	counts := runPermissionMatrix(t, matrixEnv{
		Directory: parse(t, apptest.Directory()),
		ConnectAs: func(t *testing.T, user string, opts ...nats.Option) *nats.Conn {
			return st.ConnectAs(t, user, opts...)
		},
		Dial: func(opts ...nats.Option) (*nats.Conn, error) {
			return nats.Connect(url, append([]nats.Option{nats.MaxReconnects(0), nats.Timeout(5 * time.Second)}, opts...)...)
		},
		Service: st.ConnectService(t),
	})
	if counts.Unchanged == 0 {
		t.Error("no refused write was checked for its absence of effect")
	}
}
