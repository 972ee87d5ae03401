package contract

// The command names of contract §1. The first five are also the last token of the subjects
// of the durable command door (contract §5), entityconn.commands.<userId>.<name>.
// CommandExpireConnection is the service's own command: no door accepts it.
const (
	CommandRequestConnection    = "RequestConnection"
	CommandAcceptConnection     = "AcceptConnection"
	CommandDenyConnection       = "DenyConnection"
	CommandCancelConnection     = "CancelConnection"
	CommandDisconnectConnection = "DisconnectConnection"
	CommandExpireConnection     = "ExpireConnection"
)

// The command names of contract §7, also the last token of their durable subjects.
const (
	CommandShareObject   = "ShareObject"
	CommandUnshareObject = "UnshareObject"
)

// CommandChangeSharingSettings is the command of contract §8 that sets an entity's
// auto-accept setting.
const CommandChangeSharingSettings = "ChangeSharingSettings"
