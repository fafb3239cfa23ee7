# Shared by tools/run, tools/test and tools/bench: install what is missing,
# then configure and build. Sourced, not executed.
#
# Debian packages are installed only when one of them is missing; apt-get
# update runs first because a fresh machine has no package lists at all.
# SESSIOND_PACKAGES is what building and running the server needs;
# SESSIOND_TEST_PACKAGES only the test suite (tools/test installs both;
# blender runs the add-on tests in clients/blender).

SESSIOND_PACKAGES="gcc libsqlite3-dev libwebsockets-dev libjansson-dev libcmocka-dev \
libssl-dev meson ninja-build pkg-config sqlite3 python3 python3-websockets"
# clang: the clang build and the fuzz target, whose runtimes (libFuzzer, ASan,
# UBSan for clang) are in libclang-rt-14-dev, only recommended by clang and so
# not installed with --no-install-recommends; valgrind: the valgrind suite;
# openssl: test certificates; blender: the add-on's tests; xvfb: Blender with
# a window for the add-on's window tests (and tools/blender_screenshots);
# python3-venv: the virtual environments of Blender as a Python module
# (sessiond_install_bpy); chromium and firefox-esr: the browser page's tests;
# python3-yaml: the compose file's test.
SESSIOND_TEST_PACKAGES="clang libclang-rt-14-dev valgrind openssl blender xvfb python3-venv \
chromium firefox-esr python3-yaml"

# sessiond_install_packages [PACKAGE...]: the server's packages, plus these.
sessiond_install_packages() {
	missing=""
	for p in $SESSIOND_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "setup: installing:$missing" >&2
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || return 1
	# shellcheck disable=SC2086
	$sudo apt-get install -y -qq --no-install-recommends $missing || return 1
}

# sessiond_build DIR [meson options...]: configures DIR once (debugoptimized
# unless the options say otherwise), then builds it.
sessiond_build() {
	dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" --buildtype=debugoptimized "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
}

# sessiond_install_bpy: Blender as a Python module for the add-on's tests
# (tools/test only), one virtual environment per release series of
# tests/blender/bpy-releases in build/bpy-SERIES, made once and reused while
# its `installed` file names the pinned version. Each is about 1 GB and
# installs in about half a minute; pip keeps no cache of the wheels.
# Sets SESSIOND_BPY_UNAVAILABLE to the optional series that have no wheel for
# this Python (named in the output; their meson suite cannot run) and
# returns 1, with a sentence saying why, when another series cannot be
# installed.
sessiond_install_bpy() {
	SESSIOND_BPY_UNAVAILABLE=""
	bpy_status=0
	bpy_python=/usr/bin/python3
	pyver=$($bpy_python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	while read -r series version optional; do
		case $series in '' | \#* | mix) continue ;; esac
		dir=build/bpy-$series
		[ "$(cat "$dir/installed" 2>/dev/null)" = "$version" ] && continue
		echo "setup: installing Blender $series as a Python module (bpy $version) in $dir" >&2
		start=$(date +%s)
		rm -f "$dir/installed"
		mkdir -p build
		if [ ! -x "$dir/bin/python" ] && ! $bpy_python -m venv "$dir" >"build/bpy-$series.log" 2>&1; then
			echo "setup: Blender $series cannot be installed: $bpy_python -m venv failed:" \
				"$(tail -1 "build/bpy-$series.log")" >&2
			bpy_status=1
			continue
		fi
		if "$dir/bin/python" -m pip install --disable-pip-version-check --no-cache-dir \
			"bpy==$version" >"build/bpy-$series.log" 2>&1; then
			echo "$version" >"$dir/installed"
			echo "setup: bpy $version installed in $(($(date +%s) - start)) s" >&2
			continue
		fi
		# pip reached the index and listed versions, none for this Python:
		# the release has no wheel for it.
		found=$(sed -n 's/.*(from versions: \(.*\))$/\1/p' "build/bpy-$series.log" | head -1)
		net=$(grep -oE "NewConnectionError|ConnectTimeout|Name or service not known|Temporary failure in name resolution|ProxyError|SSLError" \
			"build/bpy-$series.log" | head -1)
		nowheel=0
		if [ -n "$found" ] && [ "$found" != none ] && ! echo ", $found," | grep -qF ", $version,"; then
			nowheel=1
			why="PyPI has no bpy $version wheel for Python $pyver on $(uname -m) (it lists: $found)"
		elif [ -n "$net" ]; then
			why="the package index could not be reached ($net)"
		else
			why="pip install bpy==$version failed: $(grep -v '^ ' "build/bpy-$series.log" | tail -1)"
		fi
		if [ "$optional" = optional ] && [ $nowheel = 1 ]; then
			echo "setup: Blender $series is not tested: $why" >&2
			SESSIOND_BPY_UNAVAILABLE="$SESSIOND_BPY_UNAVAILABLE $series"
			rm -rf "$dir"
		else
			echo "setup: Blender $series cannot be installed: $why (log: build/bpy-$series.log)" >&2
			bpy_status=1
		fi
	done <tests/blender/bpy-releases
	return $bpy_status
}
