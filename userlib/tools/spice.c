/*
 * spice - look into Spice snapshot images, capture processes into them and
 * restore processes from them.
 *
 *   spice info [--json] IMAGE
 *   spice capture --pid PID -o IMAGE [--working-set]
 *   spice run [--working-set] [--keep] [--verbose] -o IMAGE [--] PROG [ARG...]
 *   spice restore [--share-cache] [--lazy] [--fd IMAGE_FD=CALLER_FD]... IMAGE
 *   spice --help
 *
 * Exit status: 0 on success, 1 when the image, the capture or the restore
 * fails, 2 on a usage error. spice run --keep exits with the status of the
 * program it ran; a successful spice restore does not exit at all: the
 * process becomes the one in the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spice.h>

#define EXIT_USAGE	2

static const char usage_text[] =
	"usage: spice info [--json] IMAGE\n"
	"       spice capture --pid PID -o IMAGE [--working-set]\n"
	"       spice run [--working-set] [--keep] [-v] -o IMAGE [--] PROG [ARG...]\n"
	"       spice restore [--share-cache] [--lazy] [--fd IMAGE_FD=CALLER_FD]... IMAGE\n"
	"       spice --help\n"
	"\n"
	"  info      print the header, sections, task, memory map, files and\n"
	"            descriptors of a snapshot image (--json: as one JSON object)\n"
	"  capture   write an image of the stopped process PID to IMAGE\n"
	"            (--working-set: store the recently used pages first)\n"
	"  run       run PROG until it stops itself with SIGSTOP (it is ready),\n"
	"            capture it into IMAGE and kill it (--keep: let it go on and\n"
	"            exit with its status; -v: print the size and the times)\n"
	"  restore   replace this process with the one in IMAGE, as exec does;\n"
	"            --fd gives it this process's CALLER_FD as IMAGE_FD\n";

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
	case SNAPSHOT_VMA_ACCOUNT:	return "account";
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

/* ---- errors ------------------------------------------------------------------ */

/* The macro name of an errno value, or NULL. */
static const char *errno_name(int err)
{
	switch (err) {
#define E(name)	case name: return #name;
	E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(E2BIG) E(ENOEXEC)
	E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
	E(EEXIST) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
	E(EMFILE) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(EROFS) E(ENAMETOOLONG)
	E(ENOSYS) E(ELOOP) E(EOVERFLOW) E(EPROTO) E(EBADMSG) E(EOPNOTSUPP)
	E(ESTALE) E(EDQUOT)
#undef E
	}
	return NULL;
}

/* " (ENAME)", or " (errno N)", after a message. */
static void put_errno(FILE *f, int err)
{
	const char *name = errno_name(err);

	if (name)
		fprintf(f, " (%s)", name);
	else
		fprintf(f, " (errno %d)", err);
}

/* The macro name of a signal without its SIG, or NULL. */
static const char *signal_name(int sig)
{
	switch (sig) {
#define S(name)	case SIG##name: return #name;
	S(HUP) S(INT) S(QUIT) S(ILL) S(TRAP) S(ABRT) S(BUS) S(FPE) S(KILL)
	S(USR1) S(SEGV) S(USR2) S(PIPE) S(ALRM) S(TERM) S(CHLD) S(CONT)
	S(STOP) S(TSTP) S(TTIN) S(TTOU) S(XCPU) S(XFSZ) S(SYS)
#undef S
	}
	return NULL;
}

/* "SIGNAME", or "signal N", into @buf. */
static const char *sig_text(int sig, char *buf, size_t size)
{
	const char *name = signal_name(sig);

	if (name)
		snprintf(buf, size, "SIG%s", name);
	else
		snprintf(buf, size, "signal %d", sig);
	return buf;
}

/*
 * What follows "capture of ... failed: " on stderr: the error, what it
 * means where it is not plain, and the reason of an -EOPNOTSUPP.
 */
static void put_capture_failure(int ret, const struct snapshot_reason *reason)
{
	fprintf(stderr, "%s", strerror(-ret));
	if (ret == -ENOSYS)
		fprintf(stderr, " (this kernel lacks the Spice snapshot interface)");
	if (ret == -EOPNOTSUPP && reason->code) {
		const char *name = spice_image_reason_name(reason->code);

		if (name)
			fprintf(stderr, " (reason: %s", name);
		else
			fprintf(stderr, " (reason: %u", reason->code);
		if (reason->fd >= 0)
			fprintf(stderr, ", fd %d", reason->fd);
		if (reason->addr)
			fprintf(stderr, ", address %#llx", ull(reason->addr));
		fprintf(stderr, ")");
	}
	fprintf(stderr, "\n");
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
	fprintf(stderr, "spice: capture of process %ld failed: ", pid);
	put_capture_failure(ret, &reason);
	return 1;
}

/* ---- spice run -------------------------------------------------------------- */

/* Milliseconds from @t0 to now, on CLOCK_MONOTONIC. */
static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* waitpid() through EINTR. */
static pid_t wait_for(pid_t pid, int *status, int options)
{
	pid_t ret;

	do
		ret = waitpid(pid, status, options);
	while (ret < 0 && errno == EINTR);
	return ret;
}

static void kill_and_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	wait_for(pid, &status, 0);
}

/*
 * Only descriptors 0, 1 and 2 across the exec: one that whoever ran spice
 * left open (a pipe, a socket) would make the capture fail, or end up in
 * the image.
 */
static void cloexec_from_3(void)
{
	long max;
	int fd;

	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * Run @argv with execvp() in a child, which gets the SIGCHLD disposition
 * @chld. Returns its pid, or -errno if it could not be started: fork()
 * failed, or the exec did (reported through a close-on-exec pipe; the
 * child is reaped).
 */
static pid_t start_prog(char **argv, const struct sigaction *chld)
{
	int pipefd[2], err = 0, status;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return err;
	}
	if (pid == 0) {
		close(pipefd[0]);
		sigaction(SIGCHLD, chld, NULL);
		cloexec_from_3();
		execvp(argv[0], argv);
		err = -errno;
		do
			n = write(pipefd[1], &err, sizeof(err));
		while (n < 0 && errno == EINTR);
		_exit(127);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(err)) {
		wait_for(pid, &status, 0);
		return err < 0 ? err : -EPROTO;
	}
	return pid;
}

/* Why the program is not ready: the status waitpid() gave, on stderr. */
static void put_not_ready(const char *prog, int status)
{
	char sig[32];

	fprintf(stderr, "spice run: %s ", prog);
	if (WIFEXITED(status))
		fprintf(stderr, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "was killed by %s",
			sig_text(WTERMSIG(status), sig, sizeof(sig)));
	else
		fprintf(stderr, "was stopped by %s",
			sig_text(WSTOPSIG(status), sig, sizeof(sig)));
	fprintf(stderr, " before it was ready (stopped itself with SIGSTOP)\n");
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "working-set", no_argument, NULL, 'w' },
		{ "keep", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	struct sigaction dfl, chld;
	struct timespec t0, t1;
	const char *path = NULL, *prog;
	double ready_ms, capture_ms;
	int keep = 0, verbose = 0, c, fd, ret, status;
	uint64_t flags = 0;
	struct stat st;
	pid_t pid;

	optind = 1;
	/* "+": the options end at PROG, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+o:wkvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'w':
			flags |= SNAPSHOT_CAPTURE_WORKING_SET;
			break;
		case 'k':
			keep = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s: bad option", "run");
		}
	}
	if (optind == argc)
		return usage_error("%s: expects a PROG to run", "run");
	if (!path)
		return usage_error("%s: -o IMAGE is required", "run");
	prog = argv[optind];

	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "spice run: %s: %s\n", path, strerror(errno));
		return 1;
	}

	/* Children reported to waitpid(), whatever this process inherited. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &chld);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = start_prog(argv + optind, &chld);
	if (pid < 0) {
		fprintf(stderr, "spice run: cannot run %s: %s\n", prog,
			strerror(-pid));
		goto fail;
	}
	if (wait_for(pid, &status, WUNTRACED) < 0) {
		fprintf(stderr, "spice run: waiting for %s: %s\n", prog,
			strerror(errno));
		kill_and_reap(pid);
		goto fail;
	}
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		put_not_ready(prog, status);
		if (WIFSTOPPED(status))
			kill_and_reap(pid);
		goto fail;
	}
	ready_ms = ms_since(&t0);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	ret = spice_capture_pid(pid, fd, flags, &reason);
	capture_ms = ms_since(&t1);
	if (ret == 0 && fstat(fd, &st) < 0)
		ret = -errno;
	if (ret) {
		fprintf(stderr, "spice run: capture of %s (pid %d) failed: ",
			prog, (int)pid);
		put_capture_failure(ret, &reason);
		kill_and_reap(pid);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		fprintf(stderr, "spice run: %s: %s\n", path, strerror(errno));
		kill_and_reap(pid);
		goto fail;
	}
	if (verbose)
		fprintf(stderr, "spice run: captured %s (pid %d) into %s: %lld bytes in %.1f ms, ready after %.1f ms\n",
			prog, (int)pid, path, (long long)st.st_size,
			capture_ms, ready_ms);

	if (!keep) {
		kill_and_reap(pid);
		return 0;
	}
	kill(pid, SIGCONT);
	if (wait_for(pid, &status, 0) < 0) {
		fprintf(stderr, "spice run: waiting for %s: %s\n", prog,
			strerror(errno));
		return 1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);

fail:
	if (fd >= 0)
		close(fd);
	unlink(path);
	return 1;
}

/* ---- spice restore ---------------------------------------------------------- */

/* A descriptor number: digits only, at most INT_MAX. */
static int parse_fd(const char *s, const char *end, int *fd)
{
	long v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*fd = (int)v;
	return 0;
}

/* IMAGE_FD=CALLER_FD */
static int parse_fd_map(const char *arg, struct spice_fd_map *m)
{
	const char *eq = strchr(arg, '=');

	if (!eq || parse_fd(arg, eq, &m->image_fd) ||
	    parse_fd(eq + 1, eq + 1 + strlen(eq + 1), &m->caller_fd))
		return -1;
	return 0;
}

/* What a restore error means, for the message; NULL: strerror() says it. */
static const char *restore_why(int err, uint64_t flags)
{
	switch (err) {
	case ENOSYS:
		return "this kernel lacks the Spice snapshot interface";
	case ESTALE:
		return "a file the image refers to has changed since the capture";
	case ENOENT:
		return "a file the image refers to no longer exists";
	case EACCES:
		return "a file the image refers to cannot be opened";
	case ENOEXEC:
		return "not a snapshot image";
	case EBADMSG:
		return "a checksum does not match: the image is damaged";
	case EOPNOTSUPP:
		return flags ?
		       "this kernel cannot restore it: --share-cache or --lazy, or the image's version, architecture, vDSO layout or CPU features, not supported here" :
		       "this kernel cannot restore it: the image's version, architecture, vDSO layout or CPU features are not supported here";
	case EPERM:
		return "the image's resource limits are above what this process may set";
	case EBUSY:
		return "this process has other threads";
	case EBADF:
		return "a descriptor given with --fd is not open";
	case EINVAL:
		return "the kernel finds the image malformed";
	}
	return NULL;
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "share-cache", no_argument, NULL, 's' },
		{ "lazy", no_argument, NULL, 'l' },
		{ "fd", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct spice_fd_map map[SPICE_RESTORE_MAX_FD_MAP];
	struct spice_image_error err;
	struct spice_image *im;
	unsigned int nr_map = 0, i;
	uint64_t flags = 0;
	const char *path, *why;
	int c, fd, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			flags |= SPICE_RESTORE_SHARE_CACHE;
			break;
		case 'l':
			flags |= SPICE_RESTORE_LAZY;
			break;
		case 'f':
			if (nr_map == SPICE_RESTORE_MAX_FD_MAP)
				return usage_error("restore: more than %s --fd options",
						   "1024");
			if (parse_fd_map(optarg, &map[nr_map]))
				return usage_error("restore: bad --fd %s: expects IMAGE_FD=CALLER_FD",
						   optarg);
			for (i = 0; i < nr_map; i++)
				if (map[i].image_fd == map[nr_map].image_fd)
					return usage_error("restore: --fd %s: that IMAGE_FD is given twice",
							   optarg);
			nr_map++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s: bad option", "restore");
		}
	}
	if (optind != argc - 1)
		return usage_error("%s: expects one IMAGE", "restore");
	path = argv[optind];

	for (i = 0; i < nr_map; i++) {
		if (fcntl(map[i].caller_fd, F_GETFD) < 0) {
			fprintf(stderr, "spice restore: --fd %d=%d: descriptor %d is not open\n",
				map[i].image_fd, map[i].caller_fd,
				map[i].caller_fd);
			return 1;
		}
	}

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = errno;
		fprintf(stderr, "spice restore: %s: %s", path, strerror(ret));
		put_errno(stderr, ret);
		fprintf(stderr, "\n");
		return 1;
	}
	/* The reader names what is wrong with an image; the kernel cannot. */
	ret = spice_image_open_fd(fd, &im, &err);
	if (ret) {
		fprintf(stderr, "spice restore: %s: %s", path, err.msg);
		put_errno(stderr, -ret);
		fprintf(stderr, "\n");
		close(fd);
		return 1;
	}
	spice_image_close(im);

	fflush(stdout);
	fflush(stderr);
	ret = spice_restore(fd, flags, map, nr_map);
	/* Still here: the restore failed. */
	why = restore_why(-ret, flags);
	fprintf(stderr, "spice restore: %s: %s", path,
		why ? why : strerror(-ret));
	put_errno(stderr, -ret);
	fprintf(stderr, "\n");
	close(fd);
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
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	return usage_error("unknown command %s", argv[1]);
}
