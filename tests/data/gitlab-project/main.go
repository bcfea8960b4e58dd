// svc: the smallest service the GitLab template test builds and gates. It prints one line
// and exits 0, so gate's default readiness ("exit") times each start to completion.
package main

import "fmt"

func main() {
	fmt.Println("svc: ready")
}
