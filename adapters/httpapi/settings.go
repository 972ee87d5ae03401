package httpapi

import (
	"net/http"

	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/domain"
)

// The sharing settings of contract §8, of the acting entity.

func (s *Server) sharingSettings(c *call) error {
	p, err := s.principal(c)
	if err != nil {
		return err
	}
	set, _, err := s.cfg.Service.SharingSettings(c.r.Context(), p)
	if err != nil {
		return err
	}
	from := set.AutoAcceptFrom
	if from == nil {
		from = []string{}
	}
	return s.ok(c, http.StatusOK, wire.SharingSettings{AutoAcceptFrom: from, Success: true})
}

func (s *Server) changeSharingSettings(c *call) error {
	var body struct {
		AutoAcceptFrom *[]string `json:"autoAcceptFrom"`
	}
	if err := readJSON(c, &body, false); err != nil {
		return err
	}
	if body.AutoAcceptFrom == nil {
		return errorf(domain.ErrMissingValue, "autoAcceptFrom is required: a list of entity ids, [\"*\"] for every source, or [] for none")
	}
	return s.command(c, domain.ChangeSharingSettings{AutoAcceptFrom: *body.AutoAcceptFrom}, succeeded)
}
