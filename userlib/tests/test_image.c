/*
 * Unit tests for the image reader and CRC32C of libspice.
 *
 *   test_image [TAP-file]
 *
 * Images come from the test-only builder (image_builder.c). A test that
 * expects a rejection changes one thing in a valid image and, unless it is
 * about checksums, recomputes the checksums, so that the reader must find
 * the change itself; every such test has the unchanged image as its control.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spice.h"
#include "internal.h"
#include "image_builder.h"
#include "tmpdir.h"

#define PG	IB_PAGE

/* ---- helpers ------------------------------------------------------------- */

static void tmp_setup(void)
{
	tmp_setup_named("spice-image-test");
}

static void build(struct ib_spec *s, struct ib_image *img)
{
	ck_assert_int_eq(sysconf(_SC_PAGESIZE), PG);
	ck_assert_msg(ib_build(s, img) == 0, "ib_build: out of memory");
}

static void build_default(struct ib_spec *s, struct ib_image *img)
{
	ib_default(s);
	build(s, img);
}

/* Write @img to a new file of the test; return its path in @path. */
static void write_file(const struct ib_image *img, size_t len, char *path,
		       size_t size, const char *name)
{
	int fd, n;

	n = snprintf(path, size, "%s/%s", tmp_dir, name);
	ck_assert(n > 0 && (size_t)n < size);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, img->buf, len) == (ssize_t)len, "write");
	ck_assert_int_eq(close(fd), 0);
}

/* Open @len bytes of @img from memory; the image is closed again. */
static int try_open(const struct ib_image *img, size_t len,
		    struct spice_image_error *err)
{
	struct spice_image *im = NULL;
	int ret;

	memset(err, 0x5a, sizeof(*err));
	ret = spice_image_open_mem(img->buf, len, &im, err);
	if (ret == 0) {
		ck_assert_ptr_nonnull(im);
		spice_image_close(im);
	}
	return ret;
}

static const char *code_name(int code)
{
	switch (code) {
	case SPICE_IMAGE_E_NONE: return "NONE";
	case SPICE_IMAGE_E_ARG: return "ARG";
	case SPICE_IMAGE_E_IO: return "IO";
	case SPICE_IMAGE_E_NOMEM: return "NOMEM";
	case SPICE_IMAGE_E_MAGIC: return "MAGIC";
	case SPICE_IMAGE_E_VERSION: return "VERSION";
	case SPICE_IMAGE_E_ARCH: return "ARCH";
	case SPICE_IMAGE_E_PAGE_SIZE: return "PAGE_SIZE";
	case SPICE_IMAGE_E_UNKNOWN_SECTION: return "UNKNOWN_SECTION";
	case SPICE_IMAGE_E_CSUM: return "CSUM";
	case SPICE_IMAGE_E_SIZE: return "SIZE";
	case SPICE_IMAGE_E_HEADER: return "HEADER";
	case SPICE_IMAGE_E_SECTION: return "SECTION";
	case SPICE_IMAGE_E_MISSING: return "MISSING";
	case SPICE_IMAGE_E_RESERVED: return "RESERVED";
	case SPICE_IMAGE_E_STRING: return "STRING";
	case SPICE_IMAGE_E_TASK: return "TASK";
	case SPICE_IMAGE_E_MM: return "MM";
	case SPICE_IMAGE_E_VMA: return "VMA";
	case SPICE_IMAGE_E_EXTENT: return "EXTENT";
	case SPICE_IMAGE_E_FILE: return "FILE";
	case SPICE_IMAGE_E_FD: return "FD";
	case SPICE_IMAGE_E_AUXV: return "AUXV";
	case SPICE_IMAGE_E_FILE_WS: return "FILE_WS";
	}
	return "?";
}

/* The message is a NUL-terminated line. */
static void assert_msg_sane(const struct spice_image_error *err)
{
	const char *nul = memchr(err->msg, '\0', sizeof(err->msg));

	ck_assert_msg(nul != NULL, "err.msg not NUL-terminated");
	ck_assert_msg(!strchr(err->msg, '\n'), "err.msg has a newline");
}

/* ---- CRC32C ------------------------------------------------------------- */

START_TEST(test_crc32c_vectors)
{
	static const unsigned char zeros[32], ones[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	unsigned char inc[32];
	int i;

	for (i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	/* The check value of CRC-32C, and RFC 3720's iSCSI vectors. */
	ck_assert_uint_eq(spice__crc32c(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(spice__crc32c_sw(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(spice__crc32c_hw(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(spice__crc32c(0, zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(spice__crc32c(0, ones, 32), 0x62a8ab43);
	ck_assert_uint_eq(spice__crc32c(0, inc, 32), 0x46dd794e);
	ck_assert_uint_eq(spice__crc32c(0, "", 0), 0);
	/* The builder's bitwise CRC agrees. */
	ck_assert_uint_eq(ib_crc32c(0, "123456789", 9), 0xe3069283);
}
END_TEST

START_TEST(test_crc32c_paths)
{
	unsigned char buf[1100];
	uint32_t want, mid;
	size_t off, len, i;
	unsigned int seed = 12345;

	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (unsigned char)(seed >> 16);
	}
	printf("note: SSE4.2 crc32 %savailable\n",
	       spice__crc32c_hw_available() ? "" : "not ");
	/* Every start alignment, lengths around the hardware path's steps. */
	for (off = 0; off < 9; off++) {
		for (len = 0; len + off <= sizeof(buf); len += len < 80 ? 1 : 97) {
			want = ib_crc32c(0, buf + off, len);
			ck_assert_msg(spice__crc32c_sw(0, buf + off, len) == want,
				      "table: off %zu len %zu", off, len);
			ck_assert_msg(spice__crc32c_hw(0, buf + off, len) == want,
				      "hw: off %zu len %zu", off, len);
			ck_assert_msg(spice__crc32c(0, buf + off, len) == want,
				      "dispatch: off %zu len %zu", off, len);
			/* Chaining: a then b is the CRC of both. */
			mid = spice__crc32c(0, buf + off, len / 3);
			ck_assert_msg(spice__crc32c(mid, buf + off + len / 3,
						    len - len / 3) == want,
				      "chained: off %zu len %zu", off, len);
		}
	}
}
END_TEST

/* ---- a valid image -------------------------------------------------------- */

/* Every accessor of @im returns what @s (built into @img) holds. */
static void assert_matches(const struct spice_image *im,
			   const struct ib_spec *s, const struct ib_image *img)
{
	const struct snapshot_image_header *h = spice_image_header(im);
	const struct snapshot_image_header *want = ib_header(img);
	struct snapshot_image_task task;
	struct snapshot_image_mm mm;
	struct snapshot_image_regs regs;
	struct snapshot_image_vma vma;
	struct snapshot_image_extent ext;
	struct snapshot_image_file file;
	struct snapshot_image_fd fd;
	struct snapshot_image_sigaction sa;
	struct snapshot_image_rlimit rl;
	const unsigned char *xsave;
	unsigned char data[2 * PG];
	uint64_t v;
	size_t i, j, size;
	ssize_t n;

	ck_assert_ptr_nonnull(h);
	ck_assert_msg(memcmp(h, want, sizeof(*h)) == 0, "header differs");

	ck_assert_uint_eq(spice_image_nr_sections(im), want->nr_sections);
	for (i = 0; i < want->nr_sections; i++) {
		const struct snapshot_image_section *d = spice_image_section(im, i);

		ck_assert_ptr_nonnull(d);
		ck_assert_msg(memcmp(d, img->buf + want->sections_off +
				     i * want->section_size, sizeof(*d)) == 0,
			      "section %zu differs", i);
	}
	ck_assert_ptr_null(spice_image_section(im, want->nr_sections));

	ck_assert_int_eq(spice_image_task(im, &task), 0);
	ck_assert_msg(memcmp(&task, &s->task, sizeof(task)) == 0, "task");
	ck_assert_int_eq(spice_image_mm(im, &mm), 0);
	ck_assert_msg(memcmp(&mm, &s->mm, sizeof(mm)) == 0, "mm");
	ck_assert_int_eq(spice_image_regs(im, &regs), 0);
	ck_assert_msg(memcmp(&regs, &s->regs, sizeof(regs)) == 0, "regs");

	ck_assert_uint_eq(spice_image_nr_vmas(im), s->nr_vmas);
	for (i = 0; i < s->nr_vmas; i++) {
		ck_assert_int_eq(spice_image_vma(im, i, &vma), 0);
		ck_assert_msg(memcmp(&vma, &s->vmas[i], sizeof(vma)) == 0,
			      "vma %zu", i);
	}
	ck_assert_uint_eq(spice_image_nr_extents(im), s->nr_extents);
	for (i = 0; i < s->nr_extents; i++) {
		ck_assert_int_eq(spice_image_extent(im, i, &ext), 0);
		ck_assert_msg(memcmp(&ext, &s->extents[i], sizeof(ext)) == 0,
			      "extent %zu", i);
		/* The real data, whole and in part. */
		ck_assert_uint_le(ext.len, sizeof(data));
		memset(data, 0, sizeof(data));
		n = spice_image_read_data(im, &ext, data, sizeof(data));
		ck_assert_int_eq(n, (ssize_t)ext.len);
		for (j = 0; j < ext.len; j++)
			ck_assert_msg(data[j] == ib_data_byte(ext.addr + j / PG * PG,
							      j % PG),
				      "extent %zu: byte %zu", i, j);
		memset(data, 0, sizeof(data));
		n = spice_image_read_data(im, &ext, data, 100);
		ck_assert_int_eq(n, 100);
		ck_assert_uint_eq(data[99], ib_data_byte(ext.addr, 99));
		ck_assert_uint_eq(data[100], 0);
	}
	ck_assert_uint_eq(spice_image_nr_files(im), s->nr_files);
	for (i = 0; i < s->nr_files; i++) {
		ck_assert_int_eq(spice_image_file(im, i, &file), 0);
		ck_assert_msg(memcmp(&file, &s->files[i], sizeof(file)) == 0,
			      "file %zu", i);
		ck_assert_str_eq(spice_image_string(im, file.path),
				 s->strings + s->files[i].path);
	}
	ck_assert_uint_eq(spice_image_nr_fds(im), s->nr_fds);
	for (i = 0; i < s->nr_fds; i++) {
		ck_assert_int_eq(spice_image_fd(im, i, &fd), 0);
		ck_assert_msg(memcmp(&fd, &s->fds[i], sizeof(fd)) == 0,
			      "fd %zu", i);
	}
	ck_assert_uint_eq(spice_image_nr_sigactions(im), s->nr_sigactions);
	for (i = 0; i < s->nr_sigactions; i++) {
		ck_assert_int_eq(spice_image_sigaction(im, i, &sa), 0);
		ck_assert_msg(memcmp(&sa, &s->sigactions[i], sizeof(sa)) == 0,
			      "sigaction %zu", i);
	}
	ck_assert_uint_eq(spice_image_nr_rlimits(im), s->nr_rlimits);
	for (i = 0; i < s->nr_rlimits; i++) {
		ck_assert_int_eq(spice_image_rlimit(im, i, &rl), 0);
		ck_assert_msg(memcmp(&rl, &s->rlimits[i], sizeof(rl)) == 0,
			      "rlimit %zu", i);
	}
	ck_assert_uint_eq(spice_image_nr_auxv(im), s->nr_auxv);
	for (i = 0; i < s->nr_auxv; i++) {
		ck_assert_int_eq(spice_image_auxv(im, i, &v), 0);
		ck_assert_uint_eq(v, s->auxv[i]);
	}
	xsave = spice_image_xsave(im, &size);
	ck_assert_uint_eq(size, s->xsave_size);
	ck_assert_ptr_nonnull(xsave);
	ck_assert_msg(memcmp(xsave, s->xsave, size) == 0, "xsave");

	ck_assert_str_eq(spice_image_string(im, task.cwd), "/home/user");
	if (s->task.exe != SNAPSHOT_IMAGE_NONE)
		ck_assert_str_eq(spice_image_string(im, task.exe),
				 s->strings + s->task.exe);
}

START_TEST(test_valid_mem)
{
	struct spice_image_error err;
	struct spice_image *im = NULL;
	struct ib_spec s;
	struct ib_image img;

	build_default(&s, &img);
	ck_assert_uint_lt(img.len, 64 * 1024);
	memset(&err, 0x5a, sizeof(err));
	errno = EL2HLT;
	ck_assert_int_eq(spice_image_open_mem(img.buf, img.len, &im, &err), 0);
	ck_assert_int_eq(errno, EL2HLT);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_NONE);
	ck_assert_str_eq(err.msg, "");
	assert_matches(im, &s, &img);

	/* The metadata was copied: the accessors do not read the buffer. */
	memset(img.buf, 0, ib_header(&img) ? ib_header(&img)->data_off : 0);
	ck_assert_str_eq(spice_image_string(im, s.task.cwd), "/home/user");
	ck_assert_uint_eq(spice_image_header(im)->magic, SNAPSHOT_IMAGE_MAGIC);
	spice_image_close(im);

	/* err may be NULL. */
	ib_free(&img);
	build_default(&s, &img);
	ck_assert_int_eq(spice_image_open_mem(img.buf, img.len, &im, NULL), 0);
	spice_image_close(im);
	ib_free(&img);
}
END_TEST

START_TEST(test_valid_variants)
{
	struct spice_image_error err;
	struct spice_image *im;
	struct ib_spec s;
	struct ib_image img;
	int variant;

	for (variant = 0; variant < 7; variant++) {
		ib_default(&s);
		switch (variant) {
		case 0:	/* no working set */
			s.flags = 0;
			for (uint32_t i = 0; i < s.nr_extents; i++)
				s.extents[i].flags = 0;
			break;
		case 1:	/* working-set flag, empty working set */
			for (uint32_t i = 0; i < s.nr_extents; i++)
				s.extents[i].flags = 0;
			break;
		case 2:	/* no exe, no extents, no fds, no files */
			s.task.exe = SNAPSHOT_IMAGE_NONE;
			s.nr_extents = 0;
			s.nr_fds = 0;
			s.nr_files = 0;
			s.nr_vmas = 1;
			s.vmas[0] = s.vma_store[2];
			break;
		case 3:	/* the highest VMA the format allows */
			s.vmas[6].start = 0x7fffffffd000;
			s.vmas[6].end = 0x7ffffffff000;
			break;
		case 4:	/* an empty XSAVE area and a self-captured image */
			s.xsave_size = 0;
			s.flags |= SNAPSHOT_IMAGE_SELF;
			break;
		case 5:	/* a lone AT_NULL pair, 1 rlimit */
			s.nr_auxv = 2;
			s.auxv[0] = 0;
			s.auxv[1] = 0;
			s.nr_rlimits = 1;
			break;
		case 6:	/* larger section descriptors, zero past 40 bytes */
			s.section_size = 48;
			break;
		}
		build(&s, &img);
		ck_assert_msg(spice_image_open_mem(img.buf, img.len, &im,
						   &err) == 0,
			      "variant %d: %s", variant, err.msg);
		assert_matches(im, &s, &img);
		spice_image_close(im);
		ib_free(&img);
	}
}
END_TEST

/* Records written larger than this reader knows, zero past its size. */
START_TEST(test_larger_entry_size)
{
	static const uint32_t extra[IB_NR_TYPES] = {
		[SNAPSHOT_SECTION_TASK] = 8,
		[SNAPSHOT_SECTION_MM] = 16,
		[SNAPSHOT_SECTION_VMAS] = 8,
		[SNAPSHOT_SECTION_EXTENTS] = 24,
		[SNAPSHOT_SECTION_FILES] = 8,
		[SNAPSHOT_SECTION_FDS] = 3,	/* any size, not only 8n */
		[SNAPSHOT_SECTION_REGS] = 8,
		[SNAPSHOT_SECTION_SIGACTIONS] = 32,
		[SNAPSHOT_SECTION_RLIMITS] = 4080,	/* up to 4096 */
	};
	struct spice_image_error err;
	struct spice_image *im;
	struct ib_spec s;
	struct ib_image img;
	uint32_t t;

	ib_default(&s);
	for (t = 1; t < IB_NR_TYPES; t++) {
		size_t known;

		switch (t) {
		case SNAPSHOT_SECTION_TASK: known = sizeof(s.task); break;
		case SNAPSHOT_SECTION_MM: known = sizeof(s.mm); break;
		case SNAPSHOT_SECTION_VMAS: known = sizeof(*s.vmas); break;
		case SNAPSHOT_SECTION_EXTENTS: known = sizeof(*s.extents); break;
		case SNAPSHOT_SECTION_FILES: known = sizeof(*s.files); break;
		case SNAPSHOT_SECTION_FDS: known = sizeof(*s.fds); break;
		case SNAPSHOT_SECTION_REGS: known = sizeof(s.regs); break;
		case SNAPSHOT_SECTION_SIGACTIONS:
			known = sizeof(s.sigactions[0]);
			break;
		case SNAPSHOT_SECTION_RLIMITS: known = sizeof(s.rlimits[0]); break;
		default: known = 0; break;
		}
		if (extra[t])
			s.entry_size[t] = (uint32_t)(known + extra[t]);
	}
	build(&s, &img);
	for (t = 1; t < IB_NR_TYPES; t++)
		if (extra[t])
			ck_assert_uint_eq(ib_desc(&img, t)->entry_size,
					  s.entry_size[t]);
	ck_assert_msg(spice_image_open_mem(img.buf, img.len, &im, &err) == 0,
		      "%s", err.msg);
	assert_matches(im, &s, &img);
	spice_image_close(im);
	ib_free(&img);
}
END_TEST

/* The record sections, for the loop test below. */
static const uint32_t record_types[] = {
	SNAPSHOT_SECTION_TASK, SNAPSHOT_SECTION_MM, SNAPSHOT_SECTION_VMAS,
	SNAPSHOT_SECTION_EXTENTS, SNAPSHOT_SECTION_FILES, SNAPSHOT_SECTION_FDS,
	SNAPSHOT_SECTION_REGS, SNAPSHOT_SECTION_SIGACTIONS,
	SNAPSHOT_SECTION_RLIMITS,
};

/* The same record, one byte past what the reader knows set: rejected. */
START_TEST(test_larger_entry_size_tail)
{
	struct spice_image_error err;
	struct ib_spec s;
	struct ib_image img;
	uint32_t t = record_types[_i], known = 0;
	unsigned char *rec;
	char want[64];

	ib_default(&s);
	switch (t) {
	case SNAPSHOT_SECTION_TASK: known = sizeof(s.task); break;
	case SNAPSHOT_SECTION_MM: known = sizeof(s.mm); break;
	case SNAPSHOT_SECTION_VMAS: known = sizeof(*s.vmas); break;
	case SNAPSHOT_SECTION_EXTENTS: known = sizeof(*s.extents); break;
	case SNAPSHOT_SECTION_FILES: known = sizeof(*s.files); break;
	case SNAPSHOT_SECTION_FDS: known = sizeof(*s.fds); break;
	case SNAPSHOT_SECTION_REGS: known = sizeof(s.regs); break;
	case SNAPSHOT_SECTION_SIGACTIONS: known = sizeof(s.sigactions[0]); break;
	case SNAPSHOT_SECTION_RLIMITS: known = sizeof(s.rlimits[0]); break;
	}
	s.entry_size[t] = known + 16;
	build(&s, &img);
	/* Control: the zero tail is fine. */
	ck_assert_msg(try_open(&img, img.len, &err) == 0, "%s", err.msg);
	rec = ib_record(&img, t, 0);
	ck_assert_ptr_nonnull(rec);
	rec[known + 15] = 1;
	ib_fix(&img);
	ck_assert_int_eq(try_open(&img, img.len, &err), -EINVAL);
	ck_assert_str_eq(code_name(err.code), "RESERVED");
	snprintf(want, sizeof(want), "%s 0: bytes past the first %u",
		 spice_image_section_name(t), known);
	ck_assert_msg(strstr(err.msg, want), "message \"%s\" lacks \"%s\"",
		      err.msg, want);
	ib_free(&img);
}
END_TEST

/* An unknown section without the REQUIRED flag is skipped. */
START_TEST(test_unknown_optional)
{
	struct spice_image_error err;
	struct spice_image *im;
	const struct snapshot_image_section *d;
	struct ib_spec s;
	struct ib_image img;
	char path[PATH_MAX];

	ib_default(&s);
	s.nr_extra = 2;
	s.extra[0].type = 100;
	s.extra[0].size = 20;
	memcpy(s.extra[0].data, "future section data", 20);
	s.extra[1].type = 0;
	s.extra[1].entry_size = 8;
	s.extra[1].nr_entries = 3;
	s.extra[1].size = 24;
	build(&s, &img);
	ck_assert_msg(spice_image_open_mem(img.buf, img.len, &im, &err) == 0,
		      "%s", err.msg);
	ck_assert_uint_eq(spice_image_nr_sections(im), 14);
	d = spice_image_section(im, 12);
	ck_assert_uint_eq(d->type, 100);
	ck_assert_uint_eq(d->size, 20);
	ck_assert_ptr_null(spice_image_section_name(d->type));
	assert_matches(im, &s, &img);
	spice_image_close(im);

	/* Through a file too: the checksum of a skipped section is read. */
	write_file(&img, img.len, path, sizeof(path), "unknown");
	ck_assert_msg(spice_image_open(path, &im, &err) == 0, "%s", err.msg);
	spice_image_close(im);
	img.buf[ib_desc(&img, 100)->offset + 3] ^= 0x10;
	write_file(&img, img.len, path, sizeof(path), "unknown-bad");
	ck_assert_int_eq(spice_image_open(path, &im, &err), -EBADMSG);
	ck_assert_str_eq(code_name(err.code), "CSUM");
	ck_assert_msg(strstr(err.msg, "section 12 (type 100)"), "%s", err.msg);
	ib_free(&img);
}
END_TEST

/* ---- files and descriptors ------------------------------------------------ */

START_TEST(test_valid_file)
{
	struct spice_image_error err;
	struct spice_image *im = NULL;
	struct ib_spec s;
	struct ib_image img;
	char path[PATH_MAX];
	int fd;

	build_default(&s, &img);
	write_file(&img, img.len, path, sizeof(path), "valid");

	errno = EL2HLT;
	ck_assert_int_eq(spice_image_open(path, &im, &err), 0);
	ck_assert_int_eq(errno, EL2HLT);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_NONE);
	assert_matches(im, &s, &img);
	spice_image_close(im);

	/* open_fd: the caller keeps its descriptor and its offset. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(lseek(fd, 123, SEEK_SET), 123);
	ck_assert_int_eq(spice_image_open_fd(fd, &im, &err), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 123);
	/* ... and may close it: the image has its own. */
	ck_assert_int_eq(close(fd), 0);
	assert_matches(im, &s, &img);
	spice_image_close(im);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(spice_image_open_fd(fd, &im, &err), 0);
	spice_image_close(im);
	/* Closing the image left the caller's descriptor open. */
	ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
	ck_assert_int_eq(close(fd), 0);
	ib_free(&img);
}
END_TEST

START_TEST(test_open_errors)
{
	struct spice_image_error err;
	struct spice_image *im = (struct spice_image *)&err;
	struct ib_spec s;
	struct ib_image img;
	char path[PATH_MAX];
	int fds[2];

	build_default(&s, &img);
	errno = EL2HLT;
	ck_assert_int_eq(spice_image_open(NULL, &im, &err), -EINVAL);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	ck_assert_int_eq(spice_image_open("/", NULL, &err), -EINVAL);
	ck_assert_int_eq(spice_image_open_fd(-1, &im, &err), -EBADF);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	ck_assert_int_eq(spice_image_open_fd(0, NULL, &err), -EINVAL);
	ck_assert_int_eq(spice_image_open_mem(NULL, 1, &im, &err), -EINVAL);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	ck_assert_int_eq(spice_image_open_mem(img.buf, img.len, NULL, &err),
			 -EINVAL);
	/* A NULL buffer of 0 bytes is an empty image, not an argument error. */
	ck_assert_int_eq(spice_image_open_mem(NULL, 0, &im, &err), -EINVAL);
	ck_assert_str_eq(code_name(err.code), "SIZE");

	ck_assert(snprintf(path, sizeof(path), "%s/does-not-exist", tmp_dir) <
		  (int)sizeof(path));
	ck_assert_int_eq(spice_image_open(path, &im, &err), -ENOENT);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_IO);
	ck_assert_int_eq(spice_image_open(tmp_dir, &im, &err), -EISDIR);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	ck_assert_int_eq(spice_image_open("/dev/null", &im, &err), -EINVAL);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	/* A FIFO without a writer: rejected, not waited on. */
	ck_assert(snprintf(path, sizeof(path), "%s/fifo", tmp_dir) <
		  (int)sizeof(path));
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(spice_image_open(path, &im, &err), -EINVAL);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_ARG);
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(spice_image_open_fd(fds[0], &im, &err), -EINVAL);
	ck_assert_int_eq(spice_image_open_fd(fds[0] + 100, &im, &err), -EBADF);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_IO);
	close(fds[0]);
	close(fds[1]);
	/* Nothing was stored on failure, errno is as it was. */
	ck_assert_ptr_eq(im, (struct spice_image *)&err);
	ck_assert_int_eq(errno, EL2HLT);

	/* Not an image: ENOEXEC, whatever its size beyond 8 bytes. */
	ck_assert_int_eq(spice_image_open_mem("#!/bin/sh\necho hello\n", 21,
					      &im, &err), -ENOEXEC);
	ck_assert_int_eq(err.code, SPICE_IMAGE_E_MAGIC);
	ck_assert_int_eq(errno, EL2HLT);
	ib_free(&img);
}
END_TEST

START_TEST(test_accessor_args)
{
	struct spice_image_error err;
	struct spice_image *im;
	struct snapshot_image_vma vma;
	struct snapshot_image_extent ext;
	struct snapshot_image_file file;
	struct snapshot_image_fd fd;
	struct snapshot_image_sigaction sa;
	struct snapshot_image_rlimit rl;
	struct snapshot_image_task task;
	unsigned char buf[16];
	struct ib_spec s;
	struct ib_image img;
	uint64_t v;
	size_t size = 99;

	build_default(&s, &img);
	ck_assert_int_eq(spice_image_open_mem(img.buf, img.len, &im, &err), 0);

	/* Out of range. */
	ck_assert_int_eq(spice_image_vma(im, s.nr_vmas, &vma), -ERANGE);
	ck_assert_int_eq(spice_image_extent(im, s.nr_extents, &ext), -ERANGE);
	ck_assert_int_eq(spice_image_file(im, s.nr_files, &file), -ERANGE);
	ck_assert_int_eq(spice_image_fd(im, s.nr_fds, &fd), -ERANGE);
	ck_assert_int_eq(spice_image_sigaction(im, 64, &sa), -ERANGE);
	ck_assert_int_eq(spice_image_rlimit(im, 16, &rl), -ERANGE);
	ck_assert_int_eq(spice_image_auxv(im, s.nr_auxv, &v), -ERANGE);
	ck_assert_int_eq(spice_image_vma(im, SIZE_MAX, &vma), -ERANGE);
	ck_assert_ptr_null(spice_image_section(im, 12));
	ck_assert_ptr_null(spice_image_section(im, SIZE_MAX));
	/* The last one is in range. */
	ck_assert_int_eq(spice_image_sigaction(im, 63, &sa), 0);
	ck_assert_int_eq(spice_image_rlimit(im, 15, &rl), 0);

	/* NULLs. */
	ck_assert_int_eq(spice_image_vma(im, 0, NULL), -EINVAL);
	ck_assert_int_eq(spice_image_vma(NULL, 0, &vma), -EINVAL);
	ck_assert_int_eq(spice_image_task(NULL, &task), -EINVAL);
	ck_assert_int_eq(spice_image_task(im, NULL), -EINVAL);
	ck_assert_int_eq(spice_image_mm(im, NULL), -EINVAL);
	ck_assert_int_eq(spice_image_regs(im, NULL), -EINVAL);
	ck_assert_int_eq(spice_image_auxv(im, 0, NULL), -EINVAL);
	ck_assert_uint_eq(spice_image_nr_vmas(NULL), 0);
	ck_assert_uint_eq(spice_image_nr_sections(NULL), 0);
	ck_assert_uint_eq(spice_image_nr_auxv(NULL), 0);
	ck_assert_ptr_null(spice_image_header(NULL));
	ck_assert_ptr_null(spice_image_section(NULL, 0));
	ck_assert_ptr_null(spice_image_xsave(NULL, &size));
	ck_assert_uint_eq(size, 0);
	ck_assert_ptr_nonnull(spice_image_xsave(im, NULL));
	ck_assert_ptr_null(spice_image_string(NULL, 0));
	spice_image_close(NULL);

	/* Strings. */
	ck_assert_str_eq(spice_image_string(im, 0), "/home/user");
	ck_assert_str_eq(spice_image_string(im, 5), "/user");
	ck_assert_str_eq(spice_image_string(im, (uint32_t)s.strings_size - 1),
			 "");
	ck_assert_ptr_null(spice_image_string(im, (uint32_t)s.strings_size));
	ck_assert_ptr_null(spice_image_string(im, SNAPSHOT_IMAGE_NONE));
	ck_assert_ptr_null(spice_image_string(im, SNAPSHOT_IMAGE_NONE - 1));

	/* read_data: arguments and extents outside the data area. */
	ck_assert_int_eq(spice_image_extent(im, 0, &ext), 0);
	ck_assert_int_eq(spice_image_read_data(NULL, &ext, buf, 16), -EINVAL);
	ck_assert_int_eq(spice_image_read_data(im, NULL, buf, 16), -EINVAL);
	ck_assert_int_eq(spice_image_read_data(im, &ext, NULL, 16), -EINVAL);
	ck_assert_int_eq(spice_image_read_data(im, &ext, NULL, 0), 0);
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, 0), 0);
	ext.data_off = 0;	/* the header */
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, 16), -EINVAL);
	ext.data_off = img.len - PG;
	ext.len = 2 * PG;
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, 16), -EINVAL);
	ext.data_off = UINT64_MAX - PG + 1;
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, 16), -EINVAL);
	ext.data_off = img.len - PG;
	ext.len = PG;
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, 16), 16);
	spice_image_close(im);
	ib_free(&img);
}
END_TEST

/* A file that shrinks under an open image: -EIO from read_data. */
START_TEST(test_read_data_shrunk)
{
	struct spice_image_error err;
	struct spice_image *im;
	struct snapshot_image_extent ext;
	unsigned char buf[PG];
	struct ib_spec s;
	struct ib_image img;
	char path[PATH_MAX];

	build_default(&s, &img);
	write_file(&img, img.len, path, sizeof(path), "shrink");
	ck_assert_int_eq(spice_image_open(path, &im, &err), 0);
	ck_assert_int_eq(spice_image_extent(im, 0, &ext), 0);
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, sizeof(buf)),
			 (ssize_t)PG);
	ck_assert_int_eq(truncate(path, (off_t)ext.data_off + 100), 0);
	errno = EL2HLT;
	ck_assert_int_eq(spice_image_read_data(im, &ext, buf, sizeof(buf)),
			 -EIO);
	ck_assert_int_eq(errno, EL2HLT);
	spice_image_close(im);
	ib_free(&img);
}
END_TEST

START_TEST(test_names)
{
	static const char *const sections[] = {
		NULL, "task", "mm", "vmas", "extents", "files", "fds", "regs",
		"xsave", "sigactions", "rlimits", "auxv", "strings", "file_ws",
		NULL,
	};
	static const char *const reasons[] = {
		NULL, "threads", "ptraced", "fd_socket", "fd_pipe",
		"fd_io_uring", "fd_userfaultfd", "fd_unlinked", "fd_other",
		"vma_hugetlb", "vma_sysv_shm", "vma_special", "vma_unlinked",
		"vma_userfaultfd", "aio", "vma_other", NULL,
	};
	uint32_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (sections[i])
			ck_assert_str_eq(spice_image_section_name(i),
					 sections[i]);
		else
			ck_assert_ptr_null(spice_image_section_name(i));
	}
	ck_assert_ptr_null(spice_image_section_name(UINT32_MAX));
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i])
			ck_assert_str_eq(spice_image_reason_name(i), reasons[i]);
		else
			ck_assert_ptr_null(spice_image_reason_name(i));
	}
	ck_assert_str_eq(spice_image_reason_name(SNAPSHOT_REASON_FD_PIPE),
			 "fd_pipe");
	ck_assert_str_eq(spice_image_reason_name(SNAPSHOT_REASON_VMA_OTHER),
			 "vma_other");
}
END_TEST

/* ---- truncation ---------------------------------------------------------- */

/* Every length up to the end of the metadata, and a sample beyond. */
START_TEST(test_truncated)
{
	struct spice_image_error err;
	struct ib_spec s;
	struct ib_image img;
	size_t len, meta;
	int ret;

	build_default(&s, &img);
	meta = (size_t)ib_header(&img)->data_off;
	ck_assert_uint_ge(img.len, meta + 4 * PG);
	for (len = 0; len < img.len; len += len <= meta ? 1 : 509) {
		ret = try_open(&img, len, &err);
		ck_assert_msg(ret == -EINVAL && err.code == SPICE_IMAGE_E_SIZE,
			      "length %zu of %zu: got %d, %s (%s)", len,
			      img.len, ret, code_name(err.code), err.msg);
		assert_msg_sane(&err);
	}
	for (len = meta; len < img.len; len += PG) {
		ck_assert_int_eq(try_open(&img, len, &err), -EINVAL);
		ck_assert_int_eq(try_open(&img, len + PG - 1, &err), -EINVAL);
	}
	/* The control. */
	ck_assert_int_eq(try_open(&img, img.len, &err), 0);
	ib_free(&img);
}
END_TEST

/* The same through files, and a file with bytes appended. */
START_TEST(test_truncated_file)
{
	static const size_t lengths[] = { 0, 7, 8, 87, 88, 89, 200, 1000 };
	struct spice_image_error err;
	struct spice_image *im;
	struct ib_spec s;
	struct ib_image img, big;
	char path[PATH_MAX];
	size_t i, meta;

	build_default(&s, &img);
	meta = (size_t)ib_header(&img)->data_off;
	for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]) + 3; i++) {
		size_t len = i < sizeof(lengths) / sizeof(lengths[0]) ?
			lengths[i] :
			(i == sizeof(lengths) / sizeof(lengths[0]) ? meta :
			 img.len - PG * (i - sizeof(lengths) / sizeof(lengths[0]) - 1) - 1);

		write_file(&img, len, path, sizeof(path), "truncated");
		ck_assert_msg(spice_image_open(path, &im, &err) == -EINVAL &&
			      err.code == SPICE_IMAGE_E_SIZE,
			      "length %zu: %s (%s)", len, code_name(err.code),
			      err.msg);
	}
	big.len = img.len + 1;
	big.buf = calloc(1, big.len);
	ck_assert_ptr_nonnull(big.buf);
	memcpy(big.buf, img.buf, img.len);
	write_file(&big, big.len, path, sizeof(path), "longer");
	ck_assert_int_eq(spice_image_open(path, &im, &err), -EINVAL);
	ck_assert_str_eq(code_name(err.code), "SIZE");
	ck_assert_int_eq(spice_image_open_mem(big.buf, big.len, &im, &err),
			 -EINVAL);
	ck_assert_str_eq(code_name(err.code), "SIZE");
	free(big.buf);
	ib_free(&img);
}
END_TEST

/* ---- single bit flips ------------------------------------------------------ */

/*
 * Flip every bit of [@from, @to) of a valid image, one at a time: each
 * must be rejected; with -EBADMSG exactly where @csum_only says so.
 */
static void flip_range(struct ib_image *img, size_t from, size_t to,
		       int (*csum_only)(size_t off), const char *what)
{
	struct spice_image_error err;
	size_t off;
	int bit, ret;

	for (off = from; off < to; off++) {
		for (bit = 0; bit < 8; bit++) {
			img->buf[off] ^= (unsigned char)(1 << bit);
			ret = try_open(img, img->len, &err);
			img->buf[off] ^= (unsigned char)(1 << bit);
			ck_assert_msg(ret < 0 && err.code != SPICE_IMAGE_E_NONE,
				      "%s: flipping bit %d of byte %zu was accepted",
				      what, bit, off);
			assert_msg_sane(&err);
			if (csum_only(off))
				ck_assert_msg(ret == -EBADMSG &&
					      err.code == SPICE_IMAGE_E_CSUM,
					      "%s: bit %d of byte %zu: got %d, %s (%s)",
					      what, bit, off, ret,
					      code_name(err.code), err.msg);
			else
				ck_assert_msg(ret == -EBADMSG || ret == -EINVAL ||
					      ret == -ENOEXEC ||
					      ret == -EOPNOTSUPP,
					      "%s: bit %d of byte %zu: got %d",
					      what, bit, off, ret);
		}
	}
	/* The control. */
	ck_assert_int_eq(try_open(img, img->len, &err), 0);
}

/*
 * Header bytes checked before the checksum: magic, version, header_size,
 * nr_sections, section_size, sections_off (they say where the table is).
 */
static int header_csum_only(size_t off)
{
	return !(off < 16 || (off >= 28 && off < 36) || (off >= 40 && off < 48));
}

static int always(size_t off)
{
	(void)off;
	return 1;
}

START_TEST(test_bitflip_header)
{
	struct ib_spec s;
	struct ib_image img;

	build_default(&s, &img);
	flip_range(&img, 0, SNAPSHOT_IMAGE_HEADER_SIZE_VER0, header_csum_only,
		   "header");
	ib_free(&img);
}
END_TEST

START_TEST(test_bitflip_table)
{
	struct ib_spec s;
	struct ib_image img;
	const struct snapshot_image_header *h;

	build_default(&s, &img);
	h = ib_header(&img);
	flip_range(&img, h->sections_off,
		   h->sections_off + (size_t)h->nr_sections * h->section_size,
		   always, "section table");
	ib_free(&img);
}
END_TEST

START_TEST(test_bitflip_sections)
{
	struct ib_spec s;
	struct ib_image img;
	uint32_t t;
	char what[32];

	build_default(&s, &img);
	for (t = SNAPSHOT_SECTION_TASK; t <= SNAPSHOT_SECTION_STRINGS; t++) {
		const struct snapshot_image_section *d = ib_desc(&img, t);

		snprintf(what, sizeof(what), "section %s",
			 spice_image_section_name(t));
		ck_assert_ptr_nonnull(d);
		flip_range(&img, d->offset, d->offset + d->size, always, what);
	}
	ib_free(&img);
}
END_TEST

/* A required section missing, for each of them. */
START_TEST(test_missing_section)
{
	struct spice_image_error err;
	struct ib_spec s;
	struct ib_image img;
	uint32_t t = (uint32_t)_i;
	char want[32];

	ib_default(&s);
	s.omit = 1U << t;
	build(&s, &img);
	ck_assert_int_eq(try_open(&img, img.len, &err), -EINVAL);
	ck_assert_str_eq(code_name(err.code), "MISSING");
	snprintf(want, sizeof(want), "no %s section",
		 spice_image_section_name(t));
	ck_assert_str_eq(err.msg, want);
	ib_free(&img);
}
END_TEST

/* ---- one change each -------------------------------------------------------- */

#define H		(ib_header(img))
#define D(t)		(ib_desc(img, SNAPSHOT_SECTION_##t))
#define REC(t, i, T)	((T *)ib_record(img, SNAPSHOT_SECTION_##t, i))
#define VMA(i)		REC(VMAS, i, struct snapshot_image_vma)
#define EXT(i)		REC(EXTENTS, i, struct snapshot_image_extent)

#define SPEC(name, body) \
	static void name(struct ib_spec *s) { body; }
#define IMG(name, body) \
	static void name(struct ib_image *img) { body; }

static void swap_bytes(void *a, void *b, size_t n)
{
	unsigned char t, *x = a, *y = b;

	while (n--) {
		t = *x;
		*x++ = *y;
		*y++ = t;
	}
}

/* Header. */
IMG(m_none, (void)img)
IMG(m_magic, H->magic ^= 1ULL << 40)
IMG(m_version2, H->version = 2)
IMG(m_version0, H->version = 0)
IMG(m_header_size_96, H->header_size = 96)
IMG(m_header_size_80, H->header_size = 80)
IMG(m_header_size_big, H->header_size = 4104)
IMG(m_arch, H->arch = 3)
IMG(m_page_size, H->page_size = 8192)
IMG(m_page_size_0, H->page_size = 0)
IMG(m_flags, H->flags |= 1U << 2)
IMG(m_nr_sections_65, H->nr_sections = 65)
IMG(m_nr_sections_0, H->nr_sections = 0)
IMG(m_nr_sections_less, H->nr_sections -= 1)
IMG(m_section_size_32, H->section_size = 32)
IMG(m_section_size_264, H->section_size = 264)
IMG(m_sections_off_odd, H->sections_off = 92)
IMG(m_sections_off_80, H->sections_off = 80)
IMG(m_sections_off_end, H->sections_off = H->image_size)
IMG(m_sections_off_huge, H->sections_off = UINT64_MAX & ~7ULL)
IMG(m_data_off_odd, H->data_off += 8; H->data_size -= 8)
IMG(m_data_size, H->data_size += PG)
IMG(m_data_wrap, H->data_off += 1ULL << 63; H->data_size -= 1ULL << 63)
IMG(m_image_size_more, H->image_size += PG; H->data_size += PG)
IMG(m_image_size_less, H->image_size -= PG; H->data_size -= PG)
IMG(m_ws_odd, H->ws_size += 8)
IMG(m_ws_big, H->ws_size = H->data_size + PG)
IMG(m_ws_no_flag, H->flags &= ~(uint32_t)SNAPSHOT_IMAGE_WORKING_SET)
IMG(m_table_past_data, H->data_size = H->image_size; H->data_off = 0)

/* Descriptors. */
IMG(m_desc_flags, D(VMAS)->flags = 2)
IMG(m_desc_reserved, D(VMAS)->reserved = 1)
IMG(m_desc_odd, D(MM)->offset += 4)
IMG(m_desc_header, D(TASK)->offset = 0)
IMG(m_desc_header_end, D(TASK)->offset = 80)
IMG(m_desc_table, D(TASK)->offset = 96)
IMG(m_desc_overlap, D(MM)->offset = D(TASK)->offset + 8)
IMG(m_desc_same, D(MM)->offset = D(TASK)->offset)
IMG(m_desc_contained, D(MM)->offset = D(VMAS)->offset + 64)
IMG(m_desc_past_data, D(STRINGS)->offset = H->data_off - 8)
IMG(m_desc_wrap, D(STRINGS)->size = UINT64_MAX - D(STRINGS)->offset + 9)
IMG(m_desc_beyond, D(STRINGS)->offset = H->image_size)
IMG(m_desc_size, D(VMAS)->size -= 8)
IMG(m_desc_wrap32, D(EXTENTS)->entry_size = 4096;
    D(EXTENTS)->nr_entries = 1U << 20; D(EXTENTS)->size = 0)
IMG(m_desc_blob, D(XSAVE)->entry_size = 1;
    D(XSAVE)->nr_entries = (uint32_t)D(XSAVE)->size)
IMG(m_desc_task_2, D(TASK)->nr_entries = 2; D(TASK)->size *= 2)
IMG(m_desc_tail, ((unsigned char *)D(MM))[44] = 1)
SPEC(s_section_size_48, s->section_size = 48)
SPEC(s_vma_entry_40, s->entry_size[SNAPSHOT_SECTION_VMAS] = 40)
SPEC(s_fd_entry_big, s->entry_size[SNAPSHOT_SECTION_FDS] = 4104)
SPEC(s_auxv_entry_16, s->entry_size[SNAPSHOT_SECTION_AUXV] = 16)
SPEC(s_sigactions_63, s->nr_sigactions = 63)
SPEC(s_rlimits_0, s->nr_rlimits = 0)
SPEC(s_auxv_0, s->nr_auxv = 0)
SPEC(s_auxv_odd, s->nr_auxv = 5)
SPEC(s_auxv_no_null, s->auxv[4] = 3)
SPEC(s_dup_type, s->nr_extra = 1; s->extra[0].type = SNAPSHOT_SECTION_AUXV;
     s->extra[0].entry_size = 8; s->extra[0].nr_entries = 2;
     s->extra[0].size = 16)
SPEC(s_dup_unknown, s->nr_extra = 2; s->extra[0].type = 100;
     s->extra[0].size = 8; s->extra[1].type = 100; s->extra[1].size = 8)
SPEC(s_unknown_required, s->nr_extra = 1; s->extra[0].type = 100;
     s->extra[0].flags = SNAPSHOT_SECTION_REQUIRED; s->extra[0].size = 8)
SPEC(s_unknown_optional, s->nr_extra = 1; s->extra[0].type = 0x7fffffff;
     s->extra[0].size = 8)
SPEC(s_unknown_bad_size, s->nr_extra = 1; s->extra[0].type = 100;
     s->extra[0].entry_size = 8; s->extra[0].nr_entries = 3;
     s->extra[0].size = 16)
SPEC(s_vma_tail, s->entry_size[SNAPSHOT_SECTION_VMAS] = 56)

/*
 * The optional file working-set section, as an extra section of the
 * builder: @nr records (at most two fit), the first in VMA 0 (a file
 * mapping at 0x400000, two pages), the second in VMA 1 (the next file
 * mapping, at 0x402000).
 */
static struct snapshot_image_file_ws *fws(struct ib_spec *s, uint32_t nr)
{
	struct snapshot_image_file_ws w[2] = {
		{ .addr = 0x400000, .len = IB_PAGE, .vma = 0 },
		{ .addr = 0x402000, .len = 2 * IB_PAGE, .vma = 1 },
	};

	s->nr_extra = 1;
	s->extra[0].type = SNAPSHOT_SECTION_FILE_WS;
	s->extra[0].entry_size = sizeof(w[0]);
	s->extra[0].nr_entries = nr;
	s->extra[0].size = nr * sizeof(w[0]);
	memcpy(s->extra[0].data, w, sizeof(w));
	return (struct snapshot_image_file_ws *)(void *)s->extra[0].data;
}

SPEC(s_fws_ok, fws(s, 2))
SPEC(s_fws_empty, fws(s, 0))
SPEC(s_fws_flags, fws(s, 2)[1].flags = 1)
SPEC(s_fws_len0, fws(s, 2)[0].len = 0)
SPEC(s_fws_odd, fws(s, 2)[1].addr += 8)
SPEC(s_fws_wrap, struct snapshot_image_file_ws *w = fws(s, 1);
     w->addr = -IB_PAGE; w->len = 2 * IB_PAGE)
SPEC(s_fws_unsorted, struct snapshot_image_file_ws *w = fws(s, 2);
     swap_bytes(&w[0], &w[1], sizeof(w[0])))
SPEC(s_fws_overlap, struct snapshot_image_file_ws *w = fws(s, 2);
     w[1] = w[0])
SPEC(s_fws_vma_index, fws(s, 2)[1].vma = IB_DEFAULT_VMAS)
SPEC(s_fws_anon, struct snapshot_image_file_ws *w = fws(s, 1);
     w->addr = 0x600000; w->vma = 2)
SPEC(s_fws_outside, fws(s, 1)->len = 3 * IB_PAGE)
/* The builder zero-fills an extra section past its 64 bytes of data. */
SPEC(s_xsave_max, s->omit = 1U << SNAPSHOT_SECTION_XSAVE; s->nr_extra = 1;
     s->extra[0].type = SNAPSHOT_SECTION_XSAVE;
     s->extra[0].size = SNAPSHOT_IMAGE_MAX_BLOB)
SPEC(s_xsave_big, s_xsave_max(s); s->extra[0].size += 8)
IMG(m_vma_tail, ((unsigned char *)VMA(2))[50] = 1)

/* Strings, task, mm, files. */
IMG(m_strings_nul,
    ((unsigned char *)ib_section(img, SNAPSHOT_SECTION_STRINGS))
	[D(STRINGS)->size - 1] = 'x')
SPEC(s_strings_empty, s->strings_size = 0)
SPEC(s_cwd_bad, s->task.cwd = (uint32_t)s->strings_size)
SPEC(s_cwd_none, s->task.cwd = SNAPSHOT_IMAGE_NONE)
SPEC(s_exe_bad, s->task.exe = 5000)
SPEC(s_path_bad, s->files[1].path = (uint32_t)s->strings_size + 3)
SPEC(s_path_relative, s->files[1].path = ib_string(s, "relative/path"))
SPEC(s_path_empty, s->files[1].path = ib_string(s, ""))
SPEC(s_file_reserved, s->files[0].reserved = 1)
SPEC(s_comm, memset(s->task.comm, 'a', sizeof(s->task.comm)))
SPEC(s_task_reserved, s->task.reserved = 1)
SPEC(s_mm_flags, s->mm.flags = 4)
SPEC(s_mm_reserved, s->mm.reserved = 1)

/* VMAs. */
SPEC(s_vma_unsorted, swap_bytes(&s->vmas[0], &s->vmas[1], sizeof(s->vmas[0])))
SPEC(s_vma_overlap, s->vmas[1].start = 0x401000)
SPEC(s_vma_empty, s->vmas[2].end = s->vmas[2].start)
SPEC(s_vma_reversed, s->vmas[2].end = s->vmas[2].start - PG)
SPEC(s_vma_odd, s->vmas[2].end += 8)
SPEC(s_vma_high, s->vmas[6].end = 0x7ffffffff000 + PG;
     s->vmas[6].start = 0x7ffffffff000)
SPEC(s_vma_prot, s->vmas[2].prot |= 8)
SPEC(s_vma_kind, s->vmas[2].kind = 5)
SPEC(s_vma_flags, s->vmas[2].flags |= SNAPSHOT_VMA_ACCOUNT << 1)
SPEC(s_vma_file_index, s->vmas[0].file = 3)
SPEC(s_vma_file_none, s->vmas[0].file = SNAPSHOT_IMAGE_NONE)
SPEC(s_vma_pgoff, s->vmas[0].pgoff = 0x800)
SPEC(s_vma_pgoff_wrap, s->vmas[0].pgoff = UINT64_MAX & ~(PG - 1))
SPEC(s_vma_anon_file, s->vmas[2].file = 0)
SPEC(s_vma_reserved, s->vmas[3].reserved = 1)

/* Extents: data_off is the builder's, so most change the built image. */
IMG(m_ext_unsorted, swap_bytes(EXT(1), EXT(2), sizeof(*EXT(1))))
IMG(m_ext_overlap, EXT(2)->addr = 0x601000)
IMG(m_ext_len0, EXT(2)->len = 0)
IMG(m_ext_addr_odd, EXT(2)->addr += 8)
IMG(m_ext_len_odd, EXT(2)->len += 8)
IMG(m_ext_data_odd, EXT(2)->data_off += 8)
IMG(m_ext_outside, EXT(0)->addr = 0x403000; EXT(0)->len = 0x2000)
IMG(m_ext_other_vma, EXT(0)->vma = 2)
IMG(m_ext_vma_index, EXT(0)->vma = 7)
IMG(m_ext_vvar, EXT(4)->addr = 0x7ffd00100000; EXT(4)->vma = 6)
IMG(m_ext_data_end, EXT(0)->data_off = H->image_size)
IMG(m_ext_data_meta, EXT(0)->data_off = H->data_off - PG)
IMG(m_ext_data_past, EXT(1)->data_off = H->image_size - PG)
IMG(m_ext_data_wrap, EXT(0)->data_off = UINT64_MAX & ~(PG - 1))
IMG(m_ext_data_same, EXT(2)->data_off = EXT(0)->data_off)
IMG(m_ext_data_part, EXT(3)->data_off = EXT(1)->data_off + PG)
IMG(m_ext_ws_out, EXT(3)->data_off = EXT(0)->data_off)
IMG(m_ext_ws_in, EXT(0)->data_off = EXT(1)->data_off)
IMG(m_ext_flags, EXT(2)->flags |= 2)
IMG(m_ext_wrap, EXT(4)->addr = UINT64_MAX & ~(PG - 1); EXT(4)->len = 2 * PG)

/* File descriptors. */
SPEC(s_fd_dup, s->fds[3].fd = 2)
SPEC(s_fd_unsorted, s->fds[1].fd = 2; s->fds[2].fd = 1)
SPEC(s_fd_negative, s->fds[0].fd = -1)
SPEC(s_fd_kind, s->fds[3].kind = 2)
SPEC(s_fd_file_index, s->fds[3].file = 3)
SPEC(s_fd_stdio_3, s->fds[3].kind = SNAPSHOT_FD_STDIO)
SPEC(s_fd_flags, s->fds[3].flags |= O_CREAT)
SPEC(s_fd_fd_flags, s->fds[3].fd_flags = 2)
SPEC(s_fd_reserved, s->fds[3].reserved = 1)

struct change {
	const char *name;
	void (*spec)(struct ib_spec *s);	/* on the model, or NULL */
	void (*image)(struct ib_image *img);	/* on the bytes, or NULL */
	int want;				/* 0 or -errno */
	int code;				/* SPICE_IMAGE_E_* */
	const char *msg;			/* in err.msg, or NULL */
};

#define OK(n, sp, im)		{ n, sp, im, 0, SPICE_IMAGE_E_NONE, NULL }
#define BAD(n, sp, im, e, c, m)	{ n, sp, im, e, SPICE_IMAGE_E_##c, m }

static const struct change changes[] = {
	OK("control: no change", NULL, m_none),
	OK("control: unknown optional section", s_unknown_optional, NULL),
	OK("control: 48-byte descriptors", s_section_size_48, NULL),
	OK("control: 56-byte VMAs, zero tail", s_vma_tail, NULL),
	OK("control: XSAVE of SNAPSHOT_IMAGE_MAX_BLOB bytes", s_xsave_max, NULL),
	OK("control: file working set", s_fws_ok, NULL),
	OK("control: empty file working set", s_fws_empty, NULL),

	BAD("bad magic", NULL, m_magic, -ENOEXEC, MAGIC, "not a snapshot image"),
	BAD("version 2", NULL, m_version2, -EOPNOTSUPP, VERSION, "version 2"),
	BAD("version 0", NULL, m_version0, -EOPNOTSUPP, VERSION, "version 0"),
	BAD("header_size 96", NULL, m_header_size_96, -EOPNOTSUPP, VERSION,
	    "header_size 96 not supported"),
	BAD("header_size 80", NULL, m_header_size_80, -EINVAL, HEADER,
	    "header_size 80 out of range"),
	BAD("header_size 4104", NULL, m_header_size_big, -EINVAL, HEADER,
	    "header_size 4104"),
	BAD("arch 3", NULL, m_arch, -EOPNOTSUPP, ARCH, "arch 3"),
	BAD("page_size 8192", NULL, m_page_size, -EOPNOTSUPP, PAGE_SIZE,
	    "page_size 8192"),
	BAD("page_size 0", NULL, m_page_size_0, -EOPNOTSUPP, PAGE_SIZE,
	    "page_size 0"),
	BAD("unknown image flag", NULL, m_flags, -EINVAL, HEADER,
	    "unknown flags 0x4"),
	BAD("nr_sections 65", NULL, m_nr_sections_65, -EINVAL, SECTION,
	    "nr_sections 65"),
	BAD("nr_sections 0", NULL, m_nr_sections_0, -EINVAL, MISSING,
	    "no task section"),
	BAD("nr_sections one short", NULL, m_nr_sections_less, -EINVAL,
	    MISSING, "no strings section"),
	BAD("section_size 32", NULL, m_section_size_32, -EINVAL, SECTION,
	    "section_size 32"),
	BAD("section_size 264", NULL, m_section_size_264, -EINVAL, SECTION,
	    "section_size 264"),
	BAD("sections_off unaligned", NULL, m_sections_off_odd, -EINVAL,
	    SECTION, "sections_off 92 not 8-byte aligned"),
	BAD("sections_off inside the header", NULL, m_sections_off_80,
	    -EINVAL, SECTION, "inside the header"),
	BAD("sections_off at the end", NULL, m_sections_off_end, -EINVAL,
	    SIZE, "past the end of the file"),
	BAD("sections_off huge", NULL, m_sections_off_huge, -EINVAL, SIZE,
	    "past the end of the file"),
	BAD("data_off unaligned", NULL, m_data_off_odd, -EINVAL, HEADER,
	    "not page aligned"),
	BAD("data_off + data_size != image_size", NULL, m_data_size, -EINVAL,
	    HEADER, "is not image_size"),
	BAD("data_off + data_size wraps", NULL, m_data_wrap, -EINVAL, HEADER,
	    "is not image_size"),
	BAD("image_size past the file", NULL, m_image_size_more, -EINVAL,
	    SIZE, "image_size"),
	BAD("image_size short of the file", NULL, m_image_size_less, -EINVAL,
	    SIZE, "image_size"),
	BAD("ws_size unaligned", NULL, m_ws_odd, -EINVAL, HEADER, "ws_size"),
	BAD("ws_size > data_size", NULL, m_ws_big, -EINVAL, HEADER,
	    "larger than data_size"),
	BAD("ws_size without the flag", NULL, m_ws_no_flag, -EINVAL, HEADER,
	    "without the WORKING_SET flag"),
	BAD("section table past data_off", NULL, m_table_past_data, -EINVAL,
	    SECTION, "section table: ends at"),

	BAD("descriptor: unknown flag", NULL, m_desc_flags, -EINVAL, SECTION,
	    "section 2 (vmas): unknown flags 0x2"),
	BAD("descriptor: reserved", NULL, m_desc_reserved, -EINVAL, RESERVED,
	    "section 2 (vmas): reserved"),
	BAD("descriptor: tail past 40 bytes", s_section_size_48, m_desc_tail,
	    -EINVAL, RESERVED, "section 1: descriptor bytes past"),
	BAD("section unaligned", NULL, m_desc_odd, -EINVAL, SECTION,
	    "section 1 (mm): offset"),
	BAD("section at 0, over the header", NULL, m_desc_header, -EINVAL,
	    SECTION, "section 0 (task): offset 0 overlaps the header"),
	BAD("section over the end of the header", NULL, m_desc_header_end,
	    -EINVAL, SECTION, "overlaps the header"),
	BAD("section over the section table", NULL, m_desc_table, -EINVAL,
	    SECTION, "overlaps the section table"),
	BAD("overlapping sections", NULL, m_desc_overlap, -EINVAL, SECTION,
	    "section 1 (mm): overlaps section 0 (task)"),
	BAD("sections at one offset", NULL, m_desc_same, -EINVAL, SECTION,
	    "overlaps"),
	BAD("section inside another", NULL, m_desc_contained, -EINVAL,
	    SECTION, "section 1 (mm): overlaps section 2 (vmas)"),
	BAD("section past data_off", NULL, m_desc_past_data, -EINVAL, SECTION,
	    "extends past data_off"),
	BAD("section offset + size wraps", NULL, m_desc_wrap, -EINVAL, SECTION,
	    "extends past data_off"),
	BAD("section beyond the file", NULL, m_desc_beyond, -EINVAL, SECTION,
	    "extends past data_off"),
	BAD("size != entry_size * nr", NULL, m_desc_size, -EINVAL, SECTION,
	    "is not entry_size 48 * nr_entries 7"),
	BAD("entry_size * nr wraps at 32 bits", NULL, m_desc_wrap32, -EINVAL,
	    SECTION, "size 0 is not entry_size 4096 * nr_entries 1048576"),
	BAD("blob with entry_size", NULL, m_desc_blob, -EINVAL, SECTION,
	    "a blob"),
	BAD("XSAVE over SNAPSHOT_IMAGE_MAX_BLOB", s_xsave_big, NULL, -EINVAL,
	    SECTION, "section 11 (xsave): size 1048584 over the limit of 1048576"),
	BAD("task with 2 entries", NULL, m_desc_task_2, -EINVAL, SECTION,
	    "2 entries, not 1"),
	BAD("entry_size below VER0", s_vma_entry_40, NULL, -EINVAL, SECTION,
	    "entry_size 40 out of range"),
	BAD("entry_size over 4096", s_fd_entry_big, NULL, -EINVAL, SECTION,
	    "entry_size 4104 out of range"),
	BAD("auxv entry_size 16", s_auxv_entry_16, NULL, -EINVAL, SECTION,
	    "entry_size 16, not 8"),
	BAD("63 sigactions", s_sigactions_63, NULL, -EINVAL, SECTION,
	    "63 entries, not 64"),
	BAD("no rlimits", s_rlimits_0, NULL, -EINVAL, SECTION,
	    "0 entries, outside [1, 16]"),
	BAD("empty auxv", s_auxv_0, NULL, -EINVAL, SECTION, "0 entries"),
	BAD("auxv odd count", s_auxv_odd, NULL, -EINVAL, AUXV,
	    "odd number of values"),
	BAD("auxv without AT_NULL", s_auxv_no_null, NULL, -EINVAL, AUXV,
	    "does not end with AT_NULL"),
	BAD("a type twice", s_dup_type, NULL, -EINVAL, SECTION,
	    "section 12 (auxv): type appears again (first as section 10)"),
	BAD("an unknown type twice", s_dup_unknown, NULL, -EINVAL, SECTION,
	    "section 13 (type 100): type appears again"),
	BAD("unknown required section", s_unknown_required, NULL, -EOPNOTSUPP,
	    UNKNOWN_SECTION, "section 12 (type 100): unknown section type"),
	BAD("unknown section, bad size", s_unknown_bad_size, NULL, -EINVAL,
	    SECTION, "section 12 (type 100): size 16"),
	BAD("record tail not zero", s_vma_tail, m_vma_tail, -EINVAL, RESERVED,
	    "vmas 2: bytes past the first 48 not zero"),

	BAD("strings not NUL-terminated", NULL, m_strings_nul, -EINVAL, STRING,
	    "last byte is not NUL"),
	BAD("strings empty", s_strings_empty, NULL, -EINVAL, STRING,
	    "strings: empty"),
	BAD("cwd past the strings", s_cwd_bad, NULL, -EINVAL, STRING,
	    "task: cwd: bad string offset"),
	BAD("cwd NONE", s_cwd_none, NULL, -EINVAL, STRING,
	    "task: cwd: bad string offset 0xffffffff"),
	BAD("exe past the strings", s_exe_bad, NULL, -EINVAL, STRING,
	    "task: exe: bad string offset 0x1388"),
	BAD("file path past the strings", s_path_bad, NULL, -EINVAL, STRING,
	    "file 1: path: bad string offset"),
	BAD("file path relative", s_path_relative, NULL, -EINVAL, FILE,
	    "file 1: path is not absolute"),
	BAD("file path empty", s_path_empty, NULL, -EINVAL, FILE,
	    "file 1: path is not absolute"),
	BAD("file reserved", s_file_reserved, NULL, -EINVAL, RESERVED,
	    "file 0: reserved"),
	BAD("comm not NUL-terminated", s_comm, NULL, -EINVAL, TASK,
	    "comm not NUL-terminated"),
	BAD("task reserved", s_task_reserved, NULL, -EINVAL, RESERVED,
	    "task: reserved"),
	BAD("mm unknown flags", s_mm_flags, NULL, -EINVAL, MM,
	    "mm: unknown flags 0x4"),
	BAD("mm reserved", s_mm_reserved, NULL, -EINVAL, RESERVED,
	    "mm: reserved"),

	BAD("VMAs not sorted", s_vma_unsorted, NULL, -EINVAL, VMA,
	    "vma 1: not sorted"),
	BAD("VMAs overlap", s_vma_overlap, NULL, -EINVAL, VMA,
	    "vma 1: overlaps vma 0"),
	BAD("VMA empty", s_vma_empty, NULL, -EINVAL, VMA,
	    "vma 2: start 0x600000 not below end 0x600000"),
	BAD("VMA reversed", s_vma_reversed, NULL, -EINVAL, VMA,
	    "vma 2: start"),
	BAD("VMA unaligned", s_vma_odd, NULL, -EINVAL, VMA,
	    "vma 2: [0x600000, 0x640008) not page aligned"),
	BAD("VMA past the user address space", s_vma_high, NULL, -EINVAL, VMA,
	    "vma 6: end 0x800000000000 past the user address space"),
	BAD("VMA prot", s_vma_prot, NULL, -EINVAL, VMA,
	    "vma 2: unknown prot bits 0x8"),
	BAD("VMA kind", s_vma_kind, NULL, -EINVAL, VMA, "vma 2: unknown kind 5"),
	BAD("VMA flags", s_vma_flags, NULL, -EINVAL, VMA,
	    "vma 2: unknown flags 0x8000"),
	BAD("VMA file index out of range", s_vma_file_index, NULL, -EINVAL,
	    VMA, "vma 0: file index 3 out of range (3 files)"),
	BAD("file VMA without a file", s_vma_file_none, NULL, -EINVAL, VMA,
	    "vma 0: file index 4294967295 out of range"),
	BAD("VMA pgoff unaligned", s_vma_pgoff, NULL, -EINVAL, VMA,
	    "vma 0: pgoff 0x800 not page aligned"),
	BAD("VMA pgoff + length wraps", s_vma_pgoff_wrap, NULL, -EINVAL, VMA,
	    "vma 0: pgoff 0xfffffffffffff000 + length overflows"),
	BAD("anonymous VMA with a file", s_vma_anon_file, NULL, -EINVAL, VMA,
	    "vma 2: file index 0 on a mapping of no file"),
	BAD("VMA reserved", s_vma_reserved, NULL, -EINVAL, RESERVED,
	    "vma 3: reserved"),

	BAD("extents not sorted", NULL, m_ext_unsorted, -EINVAL, EXTENT,
	    "extent 2: not sorted"),
	BAD("extents overlap", NULL, m_ext_overlap, -EINVAL, EXTENT,
	    "extent 2: overlaps extent 1"),
	BAD("extent len 0", NULL, m_ext_len0, -EINVAL, EXTENT,
	    "extent 2: len 0"),
	BAD("extent addr unaligned", NULL, m_ext_addr_odd, -EINVAL, EXTENT,
	    "extent 2: addr 0x610008"),
	BAD("extent len unaligned", NULL, m_ext_len_odd, -EINVAL, EXTENT,
	    "not page aligned"),
	BAD("extent data_off unaligned", NULL, m_ext_data_odd, -EINVAL, EXTENT,
	    "not page aligned"),
	BAD("extent outside its VMA", NULL, m_ext_outside, -EINVAL, EXTENT,
	    "extent 0: [0x403000, 0x405000) not inside vma 1 [0x402000, 0x404000)"),
	BAD("extent in another VMA", NULL, m_ext_other_vma, -EINVAL, EXTENT,
	    "extent 0: [0x402000, 0x403000) not inside vma 2"),
	BAD("extent VMA index out of range", NULL, m_ext_vma_index, -EINVAL,
	    EXTENT, "extent 0: vma index 7 out of range (7 vmas)"),
	BAD("extent in a vvar VMA", NULL, m_ext_vvar, -EINVAL, EXTENT,
	    "extent 4: vma 6 is of kind 4"),
	BAD("extent data at the end of the file", NULL, m_ext_data_end,
	    -EINVAL, EXTENT, "extent 0: data"),
	BAD("extent data in the metadata", NULL, m_ext_data_meta, -EINVAL,
	    EXTENT, "outside the data area"),
	BAD("extent data past the end", NULL, m_ext_data_past, -EINVAL, EXTENT,
	    "extent 1: data"),
	BAD("extent data_off + len wraps", NULL, m_ext_data_wrap, -EINVAL,
	    EXTENT, "outside the data area"),
	BAD("extent data shared", NULL, m_ext_data_same, -EINVAL, EXTENT,
	    "data overlaps the data of extent"),
	BAD("extent data overlaps", NULL, m_ext_data_part, -EINVAL, EXTENT,
	    "extent 3: data overlaps the data of extent 1"),
	BAD("working-set extent outside the working set", NULL, m_ext_ws_out,
	    -EINVAL, EXTENT, "extent 3: in the working set, but its data is not"),
	BAD("extent inside the working set", NULL, m_ext_ws_in, -EINVAL,
	    EXTENT, "extent 0: not in the working set, but its data is"),
	BAD("extent unknown flags", NULL, m_ext_flags, -EINVAL, EXTENT,
	    "extent 2: unknown flags 0x2"),
	BAD("extent addr + len wraps", NULL, m_ext_wrap, -EINVAL, EXTENT,
	    "extent 4: addr + len overflows"),

	BAD("file working set flags", s_fws_flags, NULL, -EINVAL, FILE_WS,
	    "file_ws 1: unknown flags 0x1"),
	BAD("file working set len 0", s_fws_len0, NULL, -EINVAL, FILE_WS,
	    "file_ws 0: len 0"),
	BAD("file working set unaligned", s_fws_odd, NULL, -EINVAL, FILE_WS,
	    "file_ws 1: addr 0x402008 or len 0x2000 not page aligned"),
	BAD("file working set wraps", s_fws_wrap, NULL, -EINVAL, FILE_WS,
	    "file_ws 0: addr + len overflows"),
	BAD("file working set not sorted", s_fws_unsorted, NULL, -EINVAL,
	    FILE_WS, "file_ws 1: not sorted, or overlaps file_ws 0"),
	BAD("file working set overlaps", s_fws_overlap, NULL, -EINVAL,
	    FILE_WS, "file_ws 1: not sorted, or overlaps file_ws 0"),
	BAD("file working set VMA out of range", s_fws_vma_index, NULL,
	    -EINVAL, FILE_WS, "file_ws 1: vma index 7 out of range (7 vmas)"),
	BAD("file working set in an anonymous VMA", s_fws_anon, NULL, -EINVAL,
	    FILE_WS, "file_ws 0: vma 2 is of kind 0, not a file mapping"),
	BAD("file working set past its VMA", s_fws_outside, NULL, -EINVAL,
	    FILE_WS, "file_ws 0: [0x400000, 0x403000) not inside vma 0"),

	BAD("duplicate fd", s_fd_dup, NULL, -EINVAL, FD,
	    "fd 3: descriptor 2 appears twice"),
	BAD("fds not sorted", s_fd_unsorted, NULL, -EINVAL, FD,
	    "fd 2: not sorted (1 after 2)"),
	BAD("negative fd", s_fd_negative, NULL, -EINVAL, FD,
	    "fd 0: negative descriptor -1"),
	BAD("fd kind", s_fd_kind, NULL, -EINVAL, FD, "fd 3: unknown kind 2"),
	BAD("fd file index out of range", s_fd_file_index, NULL, -EINVAL, FD,
	    "fd 3: file index 3 out of range (3 files)"),
	BAD("stdio fd 3", s_fd_stdio_3, NULL, -EINVAL, FD,
	    "fd 3: descriptor 3 is not standard I/O"),
	BAD("fd open flags", s_fd_flags, NULL, -EINVAL, FD,
	    "fd 3: unknown open flags 0x40"),
	BAD("fd fd_flags", s_fd_fd_flags, NULL, -EINVAL, FD,
	    "fd 3: unknown fd_flags 0x2"),
	BAD("fd reserved", s_fd_reserved, NULL, -EINVAL, RESERVED,
	    "fd 3: reserved"),
};

START_TEST(test_change)
{
	const struct change *c = &changes[_i];
	struct spice_image_error err;
	struct ib_spec s;
	struct ib_image img;
	int ret;

	ib_default(&s);
	if (c->spec)
		c->spec(&s);
	build(&s, &img);
	if (c->image) {
		/* The unchanged image of a byte change opens: the control. */
		ck_assert_msg(try_open(&img, img.len, &err) == 0,
			      "%s: the image before the change: %s", c->name,
			      err.msg);
		c->image(&img);
		ib_fix(&img);
	}
	ret = try_open(&img, img.len, &err);
	assert_msg_sane(&err);
	ck_assert_msg(ret == c->want && err.code == c->code,
		      "%s: got %d %s (%s), want %d %s", c->name, ret,
		      code_name(err.code), err.msg, c->want,
		      code_name(c->code));
	if (c->msg)
		ck_assert_msg(strstr(err.msg, c->msg),
			      "%s: message \"%s\" lacks \"%s\"", c->name,
			      err.msg, c->msg);
	ib_free(&img);
}
END_TEST

/* Counts at and past the limits, with every record really there. */
START_TEST(test_count_limits)
{
	struct spice_image_error err;
	struct ib_spec s;
	struct ib_image img;
	uint32_t i, n;
	int over;

	for (over = 0; over <= 1; over++) {
		struct snapshot_image_fd *fds;
		struct snapshot_image_vma *vmas;

		/* File descriptors. */
		n = SNAPSHOT_IMAGE_MAX_FDS + (uint32_t)over;
		fds = calloc(n, sizeof(*fds));
		ck_assert_ptr_nonnull(fds);
		ib_default(&s);
		for (i = 0; i < n; i++) {
			fds[i] = s.fds[i < 3 ? i : 3];
			fds[i].fd = (int32_t)i;
		}
		s.fds = fds;
		s.nr_fds = n;
		build(&s, &img);
		if (over) {
			ck_assert_int_eq(try_open(&img, img.len, &err), -EINVAL);
			ck_assert_str_eq(code_name(err.code), "SECTION");
			ck_assert_msg(strstr(err.msg,
					     "(fds): 65537 entries, outside [0, 65536]"),
				      "%s", err.msg);
		} else {
			ck_assert_msg(try_open(&img, img.len, &err) == 0,
				      "%s", err.msg);
		}
		ib_free(&img);
		free(fds);

		/* VMAs. */
		n = SNAPSHOT_IMAGE_MAX_VMAS + (uint32_t)over;
		vmas = calloc(n, sizeof(*vmas));
		ck_assert_ptr_nonnull(vmas);
		ib_default(&s);
		for (i = 0; i < n; i++) {
			vmas[i] = s.vmas[2];
			vmas[i].start = 0x10000000 + (uint64_t)i * 2 * PG;
			vmas[i].end = vmas[i].start + PG;
		}
		s.vmas = vmas;
		s.nr_vmas = n;
		s.nr_extents = 0;
		build(&s, &img);
		if (over) {
			ck_assert_int_eq(try_open(&img, img.len, &err), -EINVAL);
			ck_assert_msg(strstr(err.msg,
					     "(vmas): 65537 entries, outside [0, 65536]"),
				      "%s", err.msg);
		} else {
			ck_assert_msg(try_open(&img, img.len, &err) == 0,
				      "%s", err.msg);
		}
		ib_free(&img);
		free(vmas);
	}
}
END_TEST

/* ---- runner --------------------------------------------------------------- */

#define N_CASES(a)	((int)(sizeof(a) / sizeof((a)[0])))

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc;

	tc = tcase_create("crc32c");
	tcase_add_test(tc, test_crc32c_vectors);
	tcase_add_test(tc, test_crc32c_paths);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_valid_mem);
	tcase_add_test(tc, test_valid_variants);
	tcase_add_test(tc, test_larger_entry_size);
	tcase_add_loop_test(tc, test_larger_entry_size_tail, 0,
			    N_CASES(record_types));
	tcase_add_test(tc, test_unknown_optional);
	tcase_add_test(tc, test_valid_file);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_accessor_args);
	tcase_add_test(tc, test_read_data_shrunk);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_truncated_file);
	tcase_add_test(tc, test_bitflip_header);
	tcase_add_test(tc, test_bitflip_table);
	tcase_add_test(tc, test_bitflip_sections);
	tcase_add_loop_test(tc, test_missing_section, SNAPSHOT_SECTION_TASK,
			    SNAPSHOT_SECTION_STRINGS + 1);
	tcase_add_loop_test(tc, test_change, 0, N_CASES(changes));
	tcase_add_test(tc, test_count_limits);
	suite_add_tcase(s, tc);

	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr = srunner_create(image_suite());
	int run, failed;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [TAP-file]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		srunner_set_tap(sr, argv[1]);

	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	printf("image: %d tests, %d passed, %d failed\n", run, run - failed,
	       failed);
	return failed == 0 && run > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
