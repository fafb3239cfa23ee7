/* listener.c - HOST, PORT and TLS files, checked before the start.
 *
 * libwebsockets 4.1 takes its listen address as an "interface" string that
 * it matches against interface names first, and when nothing matches it
 * either waits for such an interface to appear (nothing listens, yet the
 * start looks fine) or falls back to every address. So HOST is resolved
 * here with getaddrinfo to exactly one numeric address, that address and
 * PORT are bound once by hand to learn whether they can be (address of this
 * machine, port free), and after libwebsockets made its listener,
 * listener_verify() looks at the process' own listening sockets to prove
 * it bound that address and no wider one. Every failure is one line naming
 * the setting, and the start stops with exit 2. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "origin.h"

static int resolve(const char *host, struct listen_addr *out, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (!*host) {
		snprintf(err, errlen, "HOST: must not be empty");
		return -1;
	}
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "HOST: cannot resolve \"%s\": %s", host,
			 rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	/* The first address, in the resolver's preference order. */
	out->family = res->ai_family;
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, out->numeric, sizeof(out->numeric),
			 NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc != 0 || (out->family != AF_INET && out->family != AF_INET6)) {
		snprintf(err, errlen, "HOST: \"%s\" is not an IPv4 or IPv6 address", host);
		return -1;
	}
	if (out->family == AF_INET6)
		snprintf(out->display, sizeof(out->display), "[%s]", out->numeric);
	else
		snprintf(out->display, sizeof(out->display), "%s", out->numeric);
	return 0;
}

static socklen_t make_sockaddr(const struct listen_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)a->port);
		inet_pton(AF_INET6, a->numeric, &s6->sin6_addr);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)a->port);
	inet_pton(AF_INET, a->numeric, &s4->sin_addr);
	return sizeof(*s4);
}

static int probe_bind(const char *host, const struct listen_addr *a, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = make_sockaddr(a, &ss);
	int one = 1, fd, e;

	fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "HOST: cannot make an %s socket for %s: %s",
			 a->family == AF_INET6 ? "IPv6" : "IPv4", host, strerror(errno));
		return -1;
	}
	/* As libwebsockets does, so a port in TIME_WAIT is not "in use". */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, 1) == 0) {
		close(fd);
		return 0;
	}
	e = errno;
	close(fd);
	if (e == EADDRINUSE)
		snprintf(err, errlen, "PORT: port %ld on %s is already in use", a->port, a->display);
	else if (e == EADDRNOTAVAIL && strcmp(host, a->numeric) != 0)
		snprintf(err, errlen, "HOST: %s (%s) is not an address of this machine", host,
			 a->numeric);
	else if (e == EADDRNOTAVAIL)
		snprintf(err, errlen, "HOST: %s is not an address of this machine", host);
	else if (e == EACCES)
		snprintf(err, errlen, "PORT: no permission to listen on port %ld", a->port);
	else
		snprintf(err, errlen, "HOST: cannot listen on %s port %ld: %s", a->display, a->port,
			 strerror(e));
	return -1;
}

/* The file can be read and holds a PEM block of the kind asked for (a
 * certificate, a private key). Whether the two belong together is left to
 * the TLS library when the listener is made. */
static int pem_file(const char *setting, const char *path, const char *begin, const char *end,
		    char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int seen_begin = 0, ok = 0;
	if (!f) {
		snprintf(err, errlen, "%s: cannot read %s: %s", setting, path, strerror(errno));
		return -1;
	}
	while (!ok && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "-----BEGIN ", 11) == 0 && strstr(line, begin))
			seen_begin = 1;
		else if (seen_begin && strncmp(line, "-----END ", 9) == 0 && strstr(line, end))
			ok = 1;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read %s: %s", setting, path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (!ok) {
		snprintf(err, errlen, "%s: %s holds no PEM %s", setting, path,
			 strcmp(begin, "CERTIFICATE") == 0 ? "certificate" : "private key");
		return -1;
	}
	return 0;
}

int listener_prepare(const struct config *cfg, struct listen_addr *out, char *err,
		     size_t errlen)
{
	char bad[256];
	memset(out, 0, sizeof(*out));
	out->port = cfg->port;
	if (origin_list_check(cfg->allowed_origins, bad, sizeof(bad)) != 0) {
		snprintf(err, errlen, "ALLOWED_ORIGINS: \"%s\" is not an origin "
			 "(scheme://host[:port], or *)", bad);
		return -1;
	}
	if (!*cfg->tls_cert != !*cfg->tls_key) {
		snprintf(err, errlen, "%s: must be set together with %s", *cfg->tls_cert ?
			 "TLS_CERT" : "TLS_KEY", *cfg->tls_cert ? "TLS_KEY" : "TLS_CERT");
		return -1;
	}
	if (*cfg->tls_cert) {
		if (pem_file("TLS_CERT", cfg->tls_cert, "CERTIFICATE", "CERTIFICATE", err, errlen) ||
		    pem_file("TLS_KEY", cfg->tls_key, "PRIVATE KEY", "PRIVATE KEY", err, errlen))
			return -1;
		out->tls = 1;
	}
	if (resolve(cfg->host, out, err, errlen))
		return -1;
	return probe_bind(cfg->host, out, err, errlen);
}

/* Every listening TCP socket of this process must be bound to addr:port,
 * and one must be. */
int listener_verify(const struct listen_addr *addr, char *err, size_t errlen)
{
	struct sockaddr_storage want;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0, wrong = 0;
	char got[80] = "";

	make_sockaddr(addr, &want);
	if (!d)
		return 0; /* no /proc: trust the bind */
	while ((e = readdir(d))) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = atoi(e->d_name), acc = 0, type = 0;
		socklen_t olen = sizeof(acc);
		char host[64];

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &olen) != 0 || !acc)
			continue;
		olen = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0 || type != SOCK_STREAM)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		if (ss.ss_family == addr->family &&
		    ((addr->family == AF_INET &&
		      memcmp(&((struct sockaddr_in *)&ss)->sin_addr,
			     &((struct sockaddr_in *)&want)->sin_addr, 4) == 0 &&
		      ((struct sockaddr_in *)&ss)->sin_port == ((struct sockaddr_in *)&want)->sin_port) ||
		     (addr->family == AF_INET6 &&
		      memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr,
			     &((struct sockaddr_in6 *)&want)->sin6_addr, 16) == 0 &&
		      ((struct sockaddr_in6 *)&ss)->sin6_port ==
			      ((struct sockaddr_in6 *)&want)->sin6_port))) {
			found = 1;
			continue;
		}
		wrong = 1;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		snprintf(got, sizeof(got), "%s", host);
	}
	closedir(d);
	if (wrong) {
		snprintf(err, errlen, "HOST: asked for %s, but the listener is bound to %s",
			 addr->display, got);
		return -1;
	}
	if (!found) {
		snprintf(err, errlen, "HOST: nothing is listening on %s port %ld", addr->display,
			 addr->port);
		return -1;
	}
	return 0;
}

void listener_raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t before;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warning("Cannot read the open file limit: %s", strerror(errno));
		return;
	}
	before = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warning("Open file limit: %llu (cannot raise it to the hard limit %llu: %s)",
				    (unsigned long long)before, (unsigned long long)rl.rlim_max,
				    strerror(errno));
			return;
		}
		log_info("Open file limit: %llu (raised from %llu)", (unsigned long long)rl.rlim_cur,
			 (unsigned long long)before);
		return;
	}
	log_info("Open file limit: %llu (the hard limit)", (unsigned long long)rl.rlim_cur);
}
