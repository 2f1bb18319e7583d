// Package kubeauth checks ambassadors' ServiceAccount tokens with the
// Kubernetes TokenReview API (authentication.k8s.io/v1) for the xDS
// server. The control plane's ServiceAccount needs "create" on
// tokenreviews (the system:auth-delegator ClusterRole grants it).
package kubeauth

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// Reviewer sends one TokenReview per token it is asked about; the xDS
// server caches the answers.
type Reviewer struct {
	client kubernetes.Interface
}

var _ xds.TokenReviewer = (*Reviewer)(nil)

// New returns a Reviewer using client.
func New(client kubernetes.Interface) *Reviewer { return &Reviewer{client: client} }

// ReviewToken asks the API server whether token is valid for audiences.
func (r *Reviewer) ReviewToken(ctx context.Context, token string, audiences []string) (xds.TokenReview, error) {
	req := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	resp, err := r.client.AuthenticationV1().TokenReviews().Create(ctx, req, metav1.CreateOptions{})
	if err != nil {
		return xds.TokenReview{}, fmt.Errorf("kubeauth: TokenReview: %w", err)
	}
	st := resp.Status
	return xds.TokenReview{
		Authenticated: st.Authenticated,
		User:          st.User.Username,
		Audiences:     st.Audiences,
		Error:         st.Error,
	}, nil
}
