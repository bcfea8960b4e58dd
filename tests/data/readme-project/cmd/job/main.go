// job: a monorepo service that does its work and exits, so the README's monorepo workflows
// (no `ready:`) time each start to completion.
package main

import "fmt"

func main() {
	fmt.Println("job: done")
}
