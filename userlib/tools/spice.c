/*
 * spice - look into Spice snapshot images and capture processes into them.
 *
 *   spice info [--json] IMAGE
 *   spice capture --pid PID -o IMAGE [--working-set]
 *   spice --help
 *
 * Exit status: 0 on success, 1 when the image or the capture fails, 2 on a
 * usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <spice.h>

#define EXIT_USAGE	2

static const char usage_text[] =
	"usage: spice info [--json] IMAGE\n"
	"       spice capture --pid PID -o IMAGE [--working-set]\n"
	"       spice --help\n"
	"\n"
	"  info      print the header, sections, task, memory map, files and\n"
	"            descriptors of a snapshot image (--json: as one JSON object)\n"
	"  capture   write an image of the stopped process PID to IMAGE\n"
	"            (--working-set: store the recently used pages first)\n";

__attribute__((format(printf, 1, 0)))
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "spice: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	return EXIT_USAGE;
}

/* ---- output helpers ------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at @s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0.
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * @s for a terminal: control bytes, backslashes and bytes that are not
 * UTF-8 as \ooo, the way /proc/PID/maps escapes a newline.
 */
static void put_text(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	while (*s) {
		n = utf8_len(s);
		if (!n || *s < 0x20 || *s == 0x7f || *s == '\\') {
			fprintf(f, "\\%03o", *s++);
			continue;
		}
		fwrite(s, 1, n, f);
		s += n;
	}
}

/*
 * @s as a JSON string. Paths are bytes, JSON is Unicode: a byte that is not
 * part of well-formed UTF-8 becomes U+FFFD.
 */
static void put_json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	if (!str) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*s) {
		switch (*s) {
		case '"':  fputs("\\\"", f); s++; continue;
		case '\\': fputs("\\\\", f); s++; continue;
		case '\b': fputs("\\b", f); s++; continue;
		case '\f': fputs("\\f", f); s++; continue;
		case '\n': fputs("\\n", f); s++; continue;
		case '\r': fputs("\\r", f); s++; continue;
		case '\t': fputs("\\t", f); s++; continue;
		}
		if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		fwrite(s, 1, n, f);
		s += n;
	}
	fputc('"', f);
}

static unsigned long long ull(uint64_t v)
{
	return (unsigned long long)v;
}

static const char *vma_kind_name(uint32_t kind)
{
	switch (kind) {
	case SNAPSHOT_VMA_ANON:		return "anon";
	case SNAPSHOT_VMA_FILE:		return "file";
	case SNAPSHOT_VMA_SHMEM:	return "shmem";
	case SNAPSHOT_VMA_VDSO:		return "vdso";
	case SNAPSHOT_VMA_VVAR:		return "vvar";
	}
	return "unknown";
}

static const char *vma_flag_name(int bit)
{
	switch (1ULL << bit) {
	case SNAPSHOT_VMA_SHARED:	return "shared";
	case SNAPSHOT_VMA_GROWSDOWN:	return "growsdown";
	case SNAPSHOT_VMA_LOCKED:	return "locked";
	case SNAPSHOT_VMA_LOCKONFAULT:	return "lockonfault";
	case SNAPSHOT_VMA_DONTFORK:	return "dontfork";
	case SNAPSHOT_VMA_DONTDUMP:	return "dontdump";
	case SNAPSHOT_VMA_WIPEONFORK:	return "wipeonfork";
	case SNAPSHOT_VMA_HUGEPAGE:	return "hugepage";
	case SNAPSHOT_VMA_NOHUGEPAGE:	return "nohugepage";
	case SNAPSHOT_VMA_MERGEABLE:	return "mergeable";
	case SNAPSHOT_VMA_RANDOM:	return "random";
	case SNAPSHOT_VMA_SEQUENTIAL:	return "sequential";
	case SNAPSHOT_VMA_NORESERVE:	return "noreserve";
	case SNAPSHOT_VMA_MAYWRITE:	return "maywrite";
	}
	return NULL;
}

/* "rwxp" of /proc/PID/maps. */
static void perms(const struct snapshot_image_vma *v, char out[5])
{
	out[0] = (v->prot & PROT_READ) ? 'r' : '-';
	out[1] = (v->prot & PROT_WRITE) ? 'w' : '-';
	out[2] = (v->prot & PROT_EXEC) ? 'x' : '-';
	out[3] = (v->flags & SNAPSHOT_VMA_SHARED) ? 's' : 'p';
	out[4] = '\0';
}

/* What maps shows as the name of a mapping without a file. */
static const char *vma_label(const struct snapshot_image_vma *v,
			     const struct snapshot_image_mm *mm)
{
	switch (v->kind) {
	case SNAPSHOT_VMA_VDSO:
		return "[vdso]";
	case SNAPSHOT_VMA_VVAR:
		return "[vvar]";
	case SNAPSHOT_VMA_SHMEM:
		return "[shmem]";
	case SNAPSHOT_VMA_ANON:
		if (v->start <= mm->start_stack && mm->start_stack < v->end)
			return "[stack]";
		if (mm->brk > mm->start_brk && v->start < mm->brk &&
		    v->end > mm->start_brk)
			return "[heap]";
		return "";
	}
	return "";
}

struct info {
	const struct spice_image *im;
	const struct snapshot_image_header *h;
	struct snapshot_image_task task;
	struct snapshot_image_mm mm;
	uint64_t stored, ws;
};

/* The file record of index @i, or NULL. */
static int get_file(const struct info *in, uint32_t i,
		    struct snapshot_image_file *f)
{
	return i != SNAPSHOT_IMAGE_NONE && spice_image_file(in->im, i, f) == 0;
}

static void format_time(uint64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000ULL);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf + strlen(buf), size - strlen(buf), ".%09lluZ",
		 ull(ns % 1000000000ULL));
}

#define MM_FIELDS(X) \
	X(start_code) X(end_code) X(start_data) X(end_data) X(start_brk) \
	X(brk) X(start_stack) X(arg_start) X(arg_end) X(env_start) \
	X(env_end) X(mmap_base) X(vdso)

/* ---- spice info ------------------------------------------------------------ */

static void print_text(const struct info *in, const char *path)
{
	const struct snapshot_image_header *h = in->h;
	struct snapshot_image_vma v;
	struct snapshot_image_file f;
	struct snapshot_image_fd fd;
	char when[64], p[5];
	size_t i;
	int bit, first;

	printf("image:       ");
	put_text(stdout, path);
	printf("\nversion:     %u (header %u bytes, section descriptors %u bytes)\n",
	       h->version, h->header_size, h->section_size);
	printf("arch:        %s (%u)\n",
	       h->arch == SNAPSHOT_ARCH_X86_64 ? "x86_64" : "?", h->arch);
	printf("page size:   %u\n", h->page_size);
	printf("flags:       %s\n",
	       (h->flags & SNAPSHOT_IMAGE_SELF) ?
	       ((h->flags & SNAPSHOT_IMAGE_WORKING_SET) ?
		"self, working-set" : "self") :
	       ((h->flags & SNAPSHOT_IMAGE_WORKING_SET) ?
		"working-set" : "none"));
	format_time(h->time_ns, when, sizeof(when));
	printf("captured:    %s\n", when);
	printf("size:        %llu bytes; data %llu bytes at %llu, working set %llu bytes\n",
	       ull(h->image_size), ull(h->data_size), ull(h->data_off),
	       ull(h->ws_size));

	printf("\nsections: %zu\n", spice_image_nr_sections(in->im));
	printf("  %-3s %-11s %5s %-9s %10s %10s %8s\n", "#", "name", "type",
	       "flags", "offset", "size", "count");
	for (i = 0; i < spice_image_nr_sections(in->im); i++) {
		const struct snapshot_image_section *d =
			spice_image_section(in->im, i);
		const char *name = spice_image_section_name(d->type);

		printf("  %-3zu %-11s %5u %-9s %10llu %10llu %8u\n", i,
		       name ? name : "(unknown)", d->type,
		       d->flags & SNAPSHOT_SECTION_REQUIRED ? "required" : "-",
		       ull(d->offset), ull(d->size), d->nr_entries);
	}

	printf("\ntask:\n  comm:        ");
	put_text(stdout, in->task.comm);
	printf("\n  cwd:         ");
	put_text(stdout, spice_image_string(in->im, in->task.cwd));
	printf("\n  exe:         ");
	if (in->task.exe == SNAPSHOT_IMAGE_NONE)
		printf("(none)");
	else
		put_text(stdout, spice_image_string(in->im, in->task.exe));
	printf("\n  umask:       %04o\n", in->task.umask);
	printf("  personality: %#x\n", in->task.personality);
	printf("  sigmask:     %#llx\n", ull(in->task.sigmask));
	printf("  sigpending:  %#llx\n", ull(in->task.sigpending));

	printf("\nmm:\n");
#define PRINT_MM(field) printf("  %-12s %#llx\n", #field ":", ull(in->mm.field));
	MM_FIELDS(PRINT_MM)
#undef PRINT_MM
	printf("  %-12s %s\n", "flags:",
	       (in->mm.flags & SNAPSHOT_MM_LOCK_FUTURE) ?
	       ((in->mm.flags & SNAPSHOT_MM_LOCK_ONFAULT) ?
		"lock-future, lock-onfault" : "lock-future") :
	       ((in->mm.flags & SNAPSHOT_MM_LOCK_ONFAULT) ?
		"lock-onfault" : "none"));

	printf("\nvmas: %zu\n", spice_image_nr_vmas(in->im));
	for (i = 0; spice_image_vma(in->im, i, &v) == 0; i++) {
		int has_file = v.kind == SNAPSHOT_VMA_FILE &&
			       get_file(in, v.file, &f);
		int n;

		perms(&v, p);
		n = printf("%08llx-%08llx %s %08llx %02llx:%02llx %llu",
			   ull(v.start), ull(v.end), p,
			   ull(v.kind == SNAPSHOT_VMA_FILE ? v.pgoff : 0),
			   ull(has_file ? major(f.dev) : 0),
			   ull(has_file ? minor(f.dev) : 0),
			   ull(has_file ? f.ino : 0));
		printf("%*s", n < 73 ? 73 - n : 1, "");
		if (has_file)
			put_text(stdout, spice_image_string(in->im, f.path));
		else
			printf("%s", vma_label(&v, &in->mm));
		printf("  (%s", vma_kind_name(v.kind));
		for (bit = 0, first = 1; bit < 64; bit++) {
			const char *name = vma_flag_name(bit);

			if (!(v.flags & (1ULL << bit)))
				continue;
			printf("%s%s", first ? ": " : ",",
			       name ? name : "?");
			first = 0;
		}
		printf(")\n");
	}

	printf("\nextents: %zu, %llu bytes stored, %llu in the working set\n",
	       spice_image_nr_extents(in->im), ull(in->stored), ull(in->ws));

	printf("\nfiles: %zu\n", spice_image_nr_files(in->im));
	for (i = 0; spice_image_file(in->im, i, &f) == 0; i++) {
		printf("  %-3zu ", i);
		put_text(stdout, spice_image_string(in->im, f.path));
		printf("  dev %llu:%llu ino %llu size %llu mode %07o mtime %lld.%09u\n",
		       ull(major(f.dev)), ull(minor(f.dev)), ull(f.ino),
		       ull(f.size), f.mode, (long long)f.mtime_sec,
		       f.mtime_nsec);
	}

	printf("\nfds: %zu\n", spice_image_nr_fds(in->im));
	for (i = 0; spice_image_fd(in->im, i, &fd) == 0; i++) {
		if (fd.kind == SNAPSHOT_FD_STDIO) {
			printf("  %-3d stdio%s\n", fd.fd,
			       fd.fd_flags & FD_CLOEXEC ? " cloexec" : "");
			continue;
		}
		printf("  %-3d file %u ", fd.fd, fd.file);
		if (get_file(in, fd.file, &f))
			put_text(stdout, spice_image_string(in->im, f.path));
		printf("  flags %#o pos %lld%s\n", fd.flags, (long long)fd.pos,
		       fd.fd_flags & FD_CLOEXEC ? " cloexec" : "");
	}
}

static void print_json(const struct info *in, const char *path)
{
	const struct snapshot_image_header *h = in->h;
	struct snapshot_image_vma v;
	struct snapshot_image_file f;
	struct snapshot_image_fd fd;
	char p[5];
	size_t i;
	int bit, first;

	printf("{\n  \"image\": ");
	put_json_str(stdout, path);
	printf(",\n  \"header\": {\"version\": %u, \"header_size\": %u, "
	       "\"arch\": %u, \"page_size\": %u, \"flags\": %u, "
	       "\"self\": %s, \"working_set\": %s, \"nr_sections\": %u, "
	       "\"section_size\": %u, \"sections_off\": %llu, "
	       "\"data_off\": %llu, \"data_size\": %llu, \"ws_size\": %llu, "
	       "\"image_size\": %llu, \"time_ns\": %llu},\n",
	       h->version, h->header_size, h->arch, h->page_size, h->flags,
	       h->flags & SNAPSHOT_IMAGE_SELF ? "true" : "false",
	       h->flags & SNAPSHOT_IMAGE_WORKING_SET ? "true" : "false",
	       h->nr_sections, h->section_size, ull(h->sections_off),
	       ull(h->data_off), ull(h->data_size), ull(h->ws_size),
	       ull(h->image_size), ull(h->time_ns));

	printf("  \"sections\": [");
	for (i = 0; i < spice_image_nr_sections(in->im); i++) {
		const struct snapshot_image_section *d =
			spice_image_section(in->im, i);

		printf("%s\n    {\"name\": ", i ? "," : "");
		put_json_str(stdout, spice_image_section_name(d->type));
		printf(", \"type\": %u, \"flags\": %u, \"required\": %s, "
		       "\"offset\": %llu, \"size\": %llu, \"entry_size\": %u, "
		       "\"count\": %u, \"csum\": %u}",
		       d->type, d->flags,
		       d->flags & SNAPSHOT_SECTION_REQUIRED ? "true" : "false",
		       ull(d->offset), ull(d->size), d->entry_size,
		       d->nr_entries, d->csum);
	}
	printf("\n  ],\n");

	printf("  \"task\": {\"comm\": ");
	put_json_str(stdout, in->task.comm);
	printf(", \"cwd\": ");
	put_json_str(stdout, spice_image_string(in->im, in->task.cwd));
	printf(", \"exe\": ");
	put_json_str(stdout, spice_image_string(in->im, in->task.exe));
	printf(", \"umask\": %u, \"personality\": %u, \"sigmask\": %llu, "
	       "\"sigpending\": %llu, \"sas_ss_sp\": %llu, "
	       "\"sas_ss_size\": %llu, \"sas_ss_flags\": %u, "
	       "\"rseq\": %llu, \"rseq_len\": %u, \"rseq_sig\": %u, "
	       "\"robust_list\": %llu, \"robust_list_len\": %llu, "
	       "\"clear_child_tid\": %llu},\n",
	       in->task.umask, in->task.personality, ull(in->task.sigmask),
	       ull(in->task.sigpending), ull(in->task.sas_ss_sp),
	       ull(in->task.sas_ss_size), in->task.sas_ss_flags,
	       ull(in->task.rseq), in->task.rseq_len, in->task.rseq_sig,
	       ull(in->task.robust_list), ull(in->task.robust_list_len),
	       ull(in->task.clear_child_tid));

	printf("  \"mm\": {");
#define JSON_MM(field) printf("\"" #field "\": %llu, ", ull(in->mm.field));
	MM_FIELDS(JSON_MM)
#undef JSON_MM
	printf("\"flags\": %u},\n", in->mm.flags);

	printf("  \"vmas\": [");
	for (i = 0; spice_image_vma(in->im, i, &v) == 0; i++) {
		int has_file = v.kind == SNAPSHOT_VMA_FILE &&
			       get_file(in, v.file, &f);

		perms(&v, p);
		printf("%s\n    {\"start\": %llu, \"end\": %llu, \"perms\": \"%s\", "
		       "\"prot\": %u, \"kind\": \"%s\", \"pgoff\": %llu, "
		       "\"flags\": [",
		       i ? "," : "", ull(v.start), ull(v.end), p, v.prot,
		       vma_kind_name(v.kind), ull(v.pgoff));
		for (bit = 0, first = 1; bit < 64; bit++) {
			if (!(v.flags & (1ULL << bit)))
				continue;
			printf("%s", first ? "" : ", ");
			put_json_str(stdout, vma_flag_name(bit) ?
				     vma_flag_name(bit) : "?");
			first = 0;
		}
		printf("], \"file\": ");
		if (has_file)
			printf("%u", v.file);
		else
			printf("null");
		printf(", \"path\": ");
		put_json_str(stdout, has_file ?
			     spice_image_string(in->im, f.path) : NULL);
		printf("}");
	}
	printf("\n  ],\n");

	printf("  \"extents\": {\"count\": %zu, \"stored_bytes\": %llu, "
	       "\"working_set_bytes\": %llu},\n",
	       spice_image_nr_extents(in->im), ull(in->stored), ull(in->ws));

	printf("  \"files\": [");
	for (i = 0; spice_image_file(in->im, i, &f) == 0; i++) {
		printf("%s\n    {\"path\": ", i ? "," : "");
		put_json_str(stdout, spice_image_string(in->im, f.path));
		printf(", \"dev\": %llu, \"major\": %llu, \"minor\": %llu, "
		       "\"ino\": %llu, \"size\": %llu, \"mode\": %u, "
		       "\"mtime_sec\": %lld, \"mtime_nsec\": %u}",
		       ull(f.dev), ull(major(f.dev)), ull(minor(f.dev)),
		       ull(f.ino), ull(f.size), f.mode,
		       (long long)f.mtime_sec, f.mtime_nsec);
	}
	printf("\n  ],\n");

	printf("  \"fds\": [");
	for (i = 0; spice_image_fd(in->im, i, &fd) == 0; i++) {
		int is_file = fd.kind == SNAPSHOT_FD_FILE;

		printf("%s\n    {\"fd\": %d, \"kind\": \"%s\", \"cloexec\": %s",
		       i ? "," : "", fd.fd, is_file ? "file" : "stdio",
		       fd.fd_flags & FD_CLOEXEC ? "true" : "false");
		if (is_file) {
			printf(", \"file\": %u, \"path\": ", fd.file);
			put_json_str(stdout, get_file(in, fd.file, &f) ?
				     spice_image_string(in->im, f.path) : NULL);
			printf(", \"flags\": %u, \"pos\": %lld", fd.flags,
			       (long long)fd.pos);
		}
		printf("}");
	}
	printf("\n  ]\n}\n");
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct spice_image_error err;
	struct snapshot_image_extent e;
	struct spice_image *im;
	struct info in;
	const char *path;
	int json = 0, c, ret;
	size_t i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s: bad option", "info");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s: expects one IMAGE", "info");
	path = argv[optind];

	ret = spice_image_open(path, &im, &err);
	if (ret) {
		fprintf(stderr, "spice: %s: %s\n", path, err.msg);
		return 1;
	}
	memset(&in, 0, sizeof(in));
	in.im = im;
	in.h = spice_image_header(im);
	if (spice_image_task(im, &in.task) || spice_image_mm(im, &in.mm)) {
		fprintf(stderr, "spice: %s: no task or mm record\n", path);
		spice_image_close(im);
		return 1;
	}
	for (i = 0; spice_image_extent(im, i, &e) == 0; i++) {
		in.stored += e.len;
		if (e.flags & SNAPSHOT_EXTENT_WORKING_SET)
			in.ws += e.len;
	}
	if (json)
		print_json(&in, path);
	else
		print_text(&in, path);
	spice_image_close(im);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "spice: writing the output: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- spice capture ---------------------------------------------------------- */

static int cmd_capture(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "working-set", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	const char *path = NULL, *pid_arg = NULL;
	uint64_t flags = 0;
	char *end;
	long pid;
	int c, fd, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid_arg = optarg;
			break;
		case 'o':
			path = optarg;
			break;
		case 'w':
			flags |= SNAPSHOT_CAPTURE_WORKING_SET;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s: bad option", "capture");
		}
	}
	if (optind != argc)
		return usage_error("capture: unexpected argument %s",
				   argv[optind]);
	if (!pid_arg)
		return usage_error("%s: --pid is required", "capture");
	if (!path)
		return usage_error("%s: -o IMAGE is required", "capture");
	errno = 0;
	pid = strtol(pid_arg, &end, 10);
	if (errno || end == pid_arg || *end || pid <= 0 || pid > INT_MAX)
		return usage_error("capture: bad PID %s", pid_arg);

	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "spice: %s: %s\n", path, strerror(errno));
		return 1;
	}
	ret = spice_capture_pid((pid_t)pid, fd, flags, &reason);
	if (ret == 0 && close(fd) < 0)
		ret = -errno;
	else if (ret != 0)
		close(fd);
	if (ret == 0)
		return 0;

	unlink(path);
	fprintf(stderr, "spice: capture of process %ld failed: %s", pid,
		strerror(-ret));
	if (ret == -ENOSYS)
		fprintf(stderr, " (this kernel lacks the Spice snapshot interface)");
	if (ret == -EOPNOTSUPP && reason.code) {
		const char *name = spice_image_reason_name(reason.code);

		if (name)
			fprintf(stderr, " (reason: %s", name);
		else
			fprintf(stderr, " (reason: %u", reason.code);
		if (reason.fd >= 0)
			fprintf(stderr, ", fd %d", reason.fd);
		if (reason.addr)
			fprintf(stderr, ", address %#llx", ull(reason.addr));
		fprintf(stderr, ")");
	}
	fprintf(stderr, "\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("%s", "no command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(argv[1], "capture"))
		return cmd_capture(argc - 1, argv + 1);
	return usage_error("unknown command %s", argv[1]);
}
