// SPDX-License-Identifier: BSD-3-Clause

// bench_go: the Go anchors of tools/bench, standard library only.
//
//	bench_go [-reps 5] [-spawns 1000000] [-batch 1000] [-switches 10000000] [-mem 1000000] [-suffix S] TEST...
//
// Tests (each prints "BENCH <name> <value> <unit>" lines; the suffix, e.g.
// ".procs2", is appended to every figure name):
//
//	spawn   co.spawn.go: `go f()` + finish, in batches joined by a sync.WaitGroup
//	switch  co.switch.go: one-way switch of two goroutines ping-ponging with runtime.Gosched()
//	chan    chan.pingpong.go: round trip over two unbuffered channels (the anchor of lib/chan)
//	mem     co.mem_per_1m.go: RSS (/proc/self/statm) delta per goroutine with 1,000,000
//	        goroutines parked on a channel receive; co.mem_per_1m.go.sys: the same from
//	        runtime.MemStats.Sys
//
// Run it with GOMAXPROCS=1 for the single-core figures, as bench_rt runs on one core.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	reps     = flag.Int("reps", 5, "repetitions, best taken")
	spawns   = flag.Int("spawns", 1000000, "goroutines per repetition (spawn)")
	batch    = flag.Int("batch", 1000, "goroutines per batch (spawn)")
	switches = flag.Int("switches", 10000000, "switches per repetition (switch, chan)")
	memN     = flag.Int("mem", 1000000, "parked goroutines (mem)")
	suffix   = flag.String("suffix", "", "appended to every figure name")
)

func report(name string, value float64, unit string) {
	if value >= 100 {
		fmt.Printf("BENCH %s%s %.0f %s\n", name, *suffix, value, unit)
	} else {
		fmt.Printf("BENCH %s%s %.2f %s\n", name, *suffix, value, unit)
	}
}

func note(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", a...)
}

var sink uint64

//go:noinline
func child(wg *sync.WaitGroup, n *uint64) {
	*n++ // GOMAXPROCS=1 in the headline figure; racy but harmless otherwise
	wg.Done()
}

func spawnBatches(total int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for done := 0; done < total; done += *batch {
		wg.Add(*batch)
		for i := 0; i < *batch; i++ {
			go child(&wg, &sink)
		}
		wg.Wait()
	}
	return time.Since(start)
}

func benchSpawn() {
	total := (*spawns + *batch - 1) / *batch * *batch
	spawnBatches(4 * *batch) // warm-up
	best := 1e300
	for r := 0; r < *reps; r++ {
		ns := float64(spawnBatches(total).Nanoseconds()) / float64(total)
		note("co.spawn.go%s rep %d: %.2f ns", *suffix, r, ns)
		if ns < best {
			best = ns
		}
	}
	report("co.spawn.go", best, "ns")
}

func gosched(n int, wg *sync.WaitGroup, laps *uint64) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
		*laps++
	}
	wg.Done()
}

func benchSwitch() {
	if runtime.GOMAXPROCS(0) != 1 {
		note("switch: skipped (needs GOMAXPROCS=1)")
		return
	}
	once := func(switches int) float64 {
		var wg sync.WaitGroup
		var laps uint64
		wg.Add(2)
		start := time.Now()
		go gosched(switches/2, &wg, &laps)
		go gosched(switches/2, &wg, &laps)
		wg.Wait()
		el := time.Since(start)
		if laps != uint64(switches/2*2) {
			panic("laps")
		}
		return float64(el.Nanoseconds()) / float64(switches/2*2)
	}
	once(200000)
	best := 1e300
	for r := 0; r < *reps; r++ {
		ns := once(*switches)
		note("co.switch.go%s rep %d: %.2f ns", *suffix, r, ns)
		if ns < best {
			best = ns
		}
	}
	report("co.switch.go", best, "ns")
}

func benchChan() {
	once := func(trips int) float64 {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
			close(pong)
		}()
		start := time.Now()
		for i := 0; i < trips; i++ {
			ping <- i
			<-pong
		}
		el := time.Since(start)
		close(ping)
		<-pong
		return float64(el.Nanoseconds()) / float64(trips)
	}
	once(100000)
	best := 1e300
	trips := *switches / 10
	for r := 0; r < *reps; r++ {
		ns := once(trips)
		note("chan.pingpong.go%s rep %d: %.1f ns", *suffix, r, ns)
		if ns < best {
			best = ns
		}
	}
	report("chan.pingpong.go", best, "ns")
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return pages * uint64(os.Getpagesize())
}

func benchMem() {
	n := *memN
	runtime.GC()
	debug.FreeOSMemory()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0 := rss()

	gate := make(chan struct{})
	var parked, finished sync.WaitGroup
	parked.Add(n)
	finished.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-gate
			finished.Done()
		}()
	}
	parked.Wait()
	for runtime.NumGoroutine() < n+1 {
		runtime.Gosched()
	}
	spawnPark := time.Since(start)
	rss1 := rss()
	runtime.ReadMemStats(&ms1)

	start = time.Now()
	close(gate)
	finished.Wait()
	wake := time.Since(start)

	note("mem: %d parked, RSS %.1f -> %.1f MiB, Sys %.1f -> %.1f MiB, StackInuse %.1f MiB", n,
		float64(rss0)/1048576, float64(rss1)/1048576, float64(ms0.Sys)/1048576,
		float64(ms1.Sys)/1048576, float64(ms1.StackInuse)/1048576)
	report("co.mem_per_1m.go", float64(rss1-rss0)/float64(n), "bytes")
	report("co.mem_per_1m.go.sys", float64(ms1.Sys-ms0.Sys)/float64(n), "bytes")
	report("co.mem_per_1m.go.spawn_park", float64(spawnPark.Nanoseconds())/float64(n), "ns")
	report("co.mem_per_1m.go.wake_finish", float64(wake.Nanoseconds())/float64(n), "ns")
}

func main() {
	flag.Parse()
	fmt.Fprintf(os.Stderr, "bench_go: %s, GOMAXPROCS=%d, %d reps\n", runtime.Version(),
		runtime.GOMAXPROCS(0), *reps)
	tests := flag.Args()
	if len(tests) == 0 {
		tests = []string{"spawn", "switch", "chan"}
	}
	for _, t := range tests {
		switch t {
		case "spawn":
			benchSpawn()
		case "switch":
			benchSwitch()
		case "chan":
			benchChan()
		case "mem":
			benchMem()
		default:
			fmt.Fprintf(os.Stderr, "bench_go: unknown test %q\n", t)
			os.Exit(2)
		}
	}
}
