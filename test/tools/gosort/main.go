// Prints the order Go's sort.Slice gives block xattrs under hcsshim's comparator
// (compactext4 writeXattrs), for cross-checking the engine's port of pdqsort.
// Input: one JSON array per line of {"index": n, "name": "..."}; output: the sorted
// positions as a JSON array per line.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
)

type entry struct {
	Index uint8  `json:"index"`
	Name  string `json:"name"`
	Pos   int    `json:"-"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var list []entry
		if err := json.Unmarshal(in.Bytes(), &list); err != nil {
			panic(err)
		}
		for i := range list {
			list[i].Pos = i
		}
		sort.Slice(list, func(i, j int) bool {
			return list[i].Index < list[j].Index ||
				len(list[i].Name) < len(list[j].Name) ||
				list[i].Name < list[j].Name
		})
		order := make([]int, len(list))
		for i, e := range list {
			order[i] = e.Pos
		}
		if err := out.Encode(order); err != nil {
			panic(err)
		}
	}
}
