#!/bin/sh
# Builds hcsshim's tar2ext4 for the bench's hcsshim column (LCOW_BENCH_HCSSHIM) with Debian's Go
# (golang-go, go1.19), from a checkout of hcsshim at the commit lcow's golden results come from.
#
#   bash bench/build-hcsshim.sh HCSSHIM_SOURCE [OUTPUT]     (OUTPUT default /tmp/tar2ext4-hcsshim)
#
# HCSSHIM_SOURCE is a checkout of hcsshim at 7c9ff7f481383ff47524bade75d1b25d631b49ce (or a later
# one whose ext4/ is the same). Nothing is written into it or into this repository: the build
# happens in a temporary GOPATH.
#
# Why not `go build -mod=vendor ./cmd/tar2ext4` in the checkout: its go.mod says go 1.26 and has
# `tool` blocks, which go1.19 refuses, and its vendored logrus, OpenTelemetry and x/sys need
# go1.21's cmp, maps and slices. The converter itself (ext4/tar2ext4, ext4/internal,
# ext4/dmverity, internal/memory, vendored pkg/errors) builds with go1.19 as it is. So this builds
# in GOPATH mode (vendor/ still applies inside the checkout) with a build -overlay that swaps only
# internal/log, which ext4/tar2ext4 uses for one warning in IsDeviceExt4, off the conversion path,
# for a stand-in that prints to stderr. The main is cmd/tar2ext4's (its flags -i -o -overlay
# -convert-slash -vhd -only-vhd -inline) plus -verity (tar2ext4.AppendDMVerity), the option set
# lcow's golden results were made with.
set -eu
SRC=$(cd "${1:?usage: build-hcsshim.sh HCSSHIM_SOURCE [OUTPUT]}" && pwd)
OUT=${2:-/tmp/tar2ext4-hcsshim}
test -f "$SRC/ext4/tar2ext4/tar2ext4.go" || { echo "build-hcsshim: $SRC has no ext4/tar2ext4: not an hcsshim checkout" >&2; exit 2; }
command -v go >/dev/null || { echo "build-hcsshim: go not found (apt-get install -y golang-go)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
HCS=$WORK/src/github.com/Microsoft/hcsshim
mkdir -p "$WORK/src/github.com/Microsoft" "$WORK/src/lcowbench/tar2ext4"
ln -s "$SRC" "$HCS"

cat > "$WORK/log_shim.go" <<'GO'
package log

import (
	"fmt"
	"os"
)

type logger struct{}

func (logger) Warnf(format string, args ...interface{}) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

var L logger
GO

# The overlay: every file of internal/log removed, the stand-in added.
{
  printf '{"Replace":{"%s":"%s"' "$HCS/internal/log/shim.go" "$WORK/log_shim.go"
  for f in "$SRC"/internal/log/*.go; do printf ',"%s":""' "$HCS/internal/log/$(basename "$f")"; done
  printf '}}\n'
} > "$WORK/overlay.json"

cat > "$WORK/src/lcowbench/tar2ext4/main.go" <<'GO'
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/Microsoft/hcsshim/ext4/tar2ext4"
)

var (
	input        = flag.String("i", "", "input file")
	output       = flag.String("o", "", "output file")
	overlay      = flag.Bool("overlay", false, "produce overlayfs-compatible layer image")
	convertSlash = flag.Bool("convert-slash", false, "convert backslashes ('\\') in path names to slashes ('/')")
	vhd          = flag.Bool("vhd", false, "add a VHD footer to the end of the image")
	onlyVhd      = flag.Bool("only-vhd", false, "adds a VHD footer to the end of the file but does not convert to ext4; this implies '-vhd' and ignores all other options")
	inlineData   = flag.Bool("inline", false, "write small file data into the inode; not compatible with DAX")
	verity       = flag.Bool("verity", false, "append a dm-verity superblock and hash tree")
)

func main() {
	flag.Parse()
	if flag.NArg() != 0 || len(*output) == 0 {
		flag.Usage()
		os.Exit(1)
	}
	err := func() (err error) {
		in := os.Stdin
		if *input != "" {
			if in, err = os.Open(*input); err != nil {
				return err
			}
		}
		out, err := os.Create(*output)
		if err != nil {
			return err
		}
		var opts []tar2ext4.Option
		if *overlay {
			opts = append(opts, tar2ext4.ConvertWhiteout)
		}
		if *convertSlash {
			opts = append(opts, tar2ext4.ConvertBackslash)
		}
		if *vhd {
			opts = append(opts, tar2ext4.AppendVhdFooter)
		}
		if *onlyVhd {
			opts = append(opts, tar2ext4.OnlyAppendVhdFooter)
		}
		if *inlineData {
			opts = append(opts, tar2ext4.InlineData)
		}
		if *verity {
			opts = append(opts, tar2ext4.AppendDMVerity)
		}
		if err = tar2ext4.Convert(in, out, opts...); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, in) // as cmd/tar2ext4: exhaust the tar stream
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
GO

cd "$WORK/src/lcowbench/tar2ext4"
GOPATH=$WORK GO111MODULE=off GOFLAGS= GOCACHE=${GOCACHE:-$WORK/cache} go build -overlay "$WORK/overlay.json" -o "$OUT" .
echo "built $OUT ($(go version "$OUT" | sed 's/^[^:]*: //'))"
