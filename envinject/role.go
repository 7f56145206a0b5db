package envinject

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// vault-role templating, as in the seed product: the role (annotation or
// VAULT_ROLE) is a text/template over these keys, so one webhook-wide
// default can name a role per namespace or ServiceAccount:
//
//	vault.security.banzaicloud.io/vault-role: "{{.namespace}}-{{.serviceaccount}}"
//
// authmethod and path are the vault-auth-method and vault-path settings,
// name is the pod's name (its generateName when it has no name yet, as
// for the pods of a Deployment), namespace the pod's namespace and
// serviceaccount the vault-serviceaccount setting (default: the pod's
// ServiceAccount). Any other key, or a template that does not parse or
// execute, refuses the pod.

// RoleKeys are the keys a vault-role template may use.
var RoleKeys = []string{"authmethod", "name", "namespace", "path", "serviceaccount"}

// RoleTemplateError says why a vault-role template was refused.
type RoleTemplateError struct {
	Key    string // the unknown key, when that is the reason
	Reason string
}

func (e *RoleTemplateError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("annotation %s%s: unknown template key %q (known: %s)", AnnotationPrefix, AnnVaultRole, e.Key, strings.Join(RoleKeys, ", "))
	}
	return fmt.Sprintf("annotation %s%s: %s", AnnotationPrefix, AnnVaultRole, e.Reason)
}

// maxRoleLen bounds a role, before and after expansion.
const maxRoleLen = 512

// expandRole executes role, which holds "{{", as a template over data.
func expandRole(role string, data map[string]string) (string, error) {
	if len(role) > maxRoleLen {
		return "", &RoleTemplateError{Reason: "template too long"}
	}
	t, err := template.New("vault-role").Option("missingkey=error").Parse(role)
	if err != nil {
		return "", &RoleTemplateError{Reason: "template does not parse"}
	}
	if key := unknownKey(t.Root, data); key != "" {
		return "", &RoleTemplateError{Key: key}
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return "", &RoleTemplateError{Reason: "template does not execute"}
	}
	r := strings.TrimSpace(out.String())
	if r == "" || len(r) > maxRoleLen || strings.ContainsAny(r, "\n\r\t ") {
		return "", &RoleTemplateError{Reason: fmt.Sprintf("template gives %s, not a role name", quoteShort(r))}
	}
	return r, nil
}

// unknownKey returns the first field (.key) in the tree that data has not.
func unknownKey(n parse.Node, data map[string]string) string {
	var kids []parse.Node
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			kids = n.Nodes
		}
	case *parse.ActionNode:
		kids = []parse.Node{n.Pipe}
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				kids = append(kids, c)
			}
		}
	case *parse.CommandNode:
		kids = n.Args
	case *parse.FieldNode:
		if _, ok := data[n.Ident[0]]; !ok || len(n.Ident) > 1 {
			return strings.Join(n.Ident, ".")
		}
	case *parse.ChainNode:
		kids = []parse.Node{n.Node}
	case *parse.IfNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.WithNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.RangeNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.TemplateNode:
		kids = []parse.Node{n.Pipe}
	}
	for _, k := range kids {
		if key := unknownKey(k, data); key != "" {
			return key
		}
	}
	return ""
}
