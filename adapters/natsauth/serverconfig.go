package natsauth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// SystemUser is the NATS user name, in the system account, that [NewServerConfig] gives the
// service to close the connections of users whose rights change.
const SystemUser = "entityconn.system"

// NewServerConfig returns, with fresh secrets, the authentication part of the configuration
// of the NATS servers of a deployment whose users entityconn signs in (contract §5a), and
// the environment of the entityconn replicas that goes with it (NAME=value lines). The
// servers know two users, by bcrypt hash: the service's own identity ([ServiceUser]) and a
// system account user ([SystemUser]); every other client is signed in by the service
// through auth callout, whose answers the servers check against the public key of the
// account seed given to the replicas. The configuration holds no secret in clear; the
// environment does.
func NewServerConfig() (config, env string, err error) {
	svc, err := NewIdentity()
	if err != nil {
		return "", "", err
	}
	sys, err := NewIdentity()
	if err != nil {
		return "", "", err
	}
	_, issuer, err := svc.Issuer()
	if err != nil {
		return "", "", err
	}
	svcHash, err := bcrypt.GenerateFromPassword([]byte(svc.Password), bcrypt.DefaultCost)
	if err != nil {
		return "", "", err
	}
	sysHash, err := bcrypt.GenerateFromPassword([]byte(sys.Password), bcrypt.DefaultCost)
	if err != nil {
		return "", "", err
	}
	config = fmt.Sprintf(`# Who may connect to the NATS servers of entityconn (contract §5a), made by
# "entityconn nats-server-config". No anonymous client: the servers know the two users below,
# and ask entityconn about every other one (auth callout), which signs in the users of its
# directory with their client id and secret and gives each the permissions of its grants.

accounts {
  SYS: {
    users: [
      # entityconn closes the connections of users whose rights change through it.
      {user: %q, password: %q}
    ]
  }
}
system_account: SYS

authorization {
  users: [
    # The service's own identity: the only one that writes events, views, the directory and
    # idempotency records.
    {user: %q, password: %q}
  ]
  auth_callout {
    # The public key of ENTITYCONN_AUTH_CALLOUT_SEED: answers signed with it are trusted.
    issuer: %q
    account: "$G"
    auth_users: [%q, %q]
  }
  # A sign-in waits for entityconn's answer, which costs a bcrypt comparison.
  timeout: 5
}
`, SystemUser, sysHash, ServiceUser, svcHash, issuer, ServiceUser, SystemUser)
	env = fmt.Sprintf("NATS_USER=%s\nNATS_PASSWORD=%s\nNATS_SYSTEM_USER=%s\nNATS_SYSTEM_PASSWORD=%s\nENTITYCONN_AUTH_CALLOUT_SEED=%s\n",
		ServiceUser, svc.Password, SystemUser, sys.Password, svc.CalloutSeed)
	return config, env, nil
}
