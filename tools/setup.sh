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
# clang: the clang build and the fuzz target; valgrind: the valgrind suite;
# openssl: test certificates; blender: the add-on's tests; xvfb: Blender with
# a window for the add-on's window tests (and tools/blender_screenshots);
# chromium and firefox-esr: the browser page's tests; python3-yaml: the
# compose file's test.
SESSIOND_TEST_PACKAGES="clang valgrind openssl blender xvfb chromium firefox-esr python3-yaml"

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
