/*
 * libFuzzer target for the image reader.
 *
 *   clang -fsanitize=fuzzer,address,undefined (see the userlib Makefile)
 *
 * Random changes to an image nearly always break a checksum, and the
 * reader would then reject it before looking any further. So, unless the
 * lowest bit of the header's time_ns is set, the target first recomputes
 * every checksum the (possibly nonsensical) header and section table let it
 * find, as a writer would have: the mutations then reach every check behind
 * the checksums. Images with that bit set test the checksums themselves.
 *
 * On success it calls every accessor, spice_image_string() on every string
 * offset, spice_image_read_data() on every extent, and checks what the
 * reader promised; on failure, that the error is consistent. A broken
 * promise aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spice.h"
#include "internal.h"

#define REQUIRE(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_image: %s:%d: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Recompute the checksums the layout lets us find; see above. */
static void fix_checksums(unsigned char *buf, size_t len)
{
	struct snapshot_image_header h;
	struct snapshot_image_section d;
	uint64_t table, off;
	uint32_t i, crc;

	if (len < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	if (h.time_ns & 1)
		return;
	if (h.section_size < sizeof(d) || h.nr_sections > 64 ||
	    h.section_size > 256 || h.sections_off > len)
		return;
	table = (uint64_t)h.nr_sections * h.section_size;
	if (table > len - h.sections_off)
		return;
	for (i = 0; i < h.nr_sections; i++) {
		off = h.sections_off + (uint64_t)i * h.section_size;
		memcpy(&d, buf + off, sizeof(d));
		if (d.offset > len || d.size > len - d.offset)
			continue;
		d.csum = spice__crc32c(0, buf + d.offset, (size_t)d.size);
		put32(buf + off + offsetof(struct snapshot_image_section, csum),
		      d.csum);
	}
	if (h.header_size > len || h.header_size < sizeof(h))
		return;
	put32(buf + offsetof(struct snapshot_image_header, csum), 0);
	crc = spice__crc32c(0, buf, h.header_size);
	crc = spice__crc32c(crc, buf + h.sections_off, (size_t)table);
	put32(buf + offsetof(struct snapshot_image_header, csum), crc);
}

static int errno_of(int code)
{
	switch (code) {
	case SPICE_IMAGE_E_MAGIC:
		return -ENOEXEC;
	case SPICE_IMAGE_E_VERSION:
	case SPICE_IMAGE_E_ARCH:
	case SPICE_IMAGE_E_PAGE_SIZE:
	case SPICE_IMAGE_E_UNKNOWN_SECTION:
		return -EOPNOTSUPP;
	case SPICE_IMAGE_E_CSUM:
		return -EBADMSG;
	case SPICE_IMAGE_E_NOMEM:
		return -ENOMEM;
	}
	return -EINVAL;
}

static void check_string(const struct spice_image *im, uint32_t off,
			 int may_be_none)
{
	const char *s = spice_image_string(im, off);

	if (off == SNAPSHOT_IMAGE_NONE && may_be_none) {
		REQUIRE(s == NULL);
		return;
	}
	REQUIRE(s != NULL);
	(void)strlen(s);	/* ASan: NUL-terminated inside the copy */
}

static void exercise(const struct spice_image *im, size_t len)
{
	const struct snapshot_image_header *h = spice_image_header(im);
	struct snapshot_image_task task;
	struct snapshot_image_mm mm;
	struct snapshot_image_regs regs;
	struct snapshot_image_vma v, pv;
	struct snapshot_image_extent e;
	struct snapshot_image_file f;
	struct snapshot_image_fd fd;
	struct snapshot_image_sigaction sa;
	struct snapshot_image_rlimit rl;
	unsigned char data[8192];
	const unsigned char *xsave;
	uint64_t a;
	size_t i, n, size;
	ssize_t got;

	memset(&pv, 0, sizeof(pv));
	REQUIRE(h && h->magic == SNAPSHOT_IMAGE_MAGIC);
	REQUIRE(h->image_size == len);
	for (i = 0; i < spice_image_nr_sections(im); i++) {
		const struct snapshot_image_section *d = spice_image_section(im, i);

		REQUIRE(d != NULL);
		REQUIRE(d->offset + d->size <= h->data_off);
		(void)spice_image_section_name(d->type);
	}
	REQUIRE(spice_image_section(im, i) == NULL);

	REQUIRE(spice_image_task(im, &task) == 0);
	REQUIRE(memchr(task.comm, '\0', sizeof(task.comm)) != NULL);
	check_string(im, task.cwd, 0);
	check_string(im, task.exe, 1);
	REQUIRE(spice_image_mm(im, &mm) == 0);
	REQUIRE(spice_image_regs(im, &regs) == 0);

	n = spice_image_nr_files(im);
	for (i = 0; i < n; i++) {
		REQUIRE(spice_image_file(im, i, &f) == 0);
		check_string(im, f.path, 0);
		REQUIRE(spice_image_string(im, f.path)[0] == '/');
	}
	REQUIRE(spice_image_file(im, n, &f) == -ERANGE);

	n = spice_image_nr_vmas(im);
	for (i = 0; i < n; i++) {
		REQUIRE(spice_image_vma(im, i, &v) == 0);
		REQUIRE(v.start < v.end);
		REQUIRE(!i || pv.end <= v.start);
		if (v.kind == SNAPSHOT_VMA_FILE)
			REQUIRE(v.file < spice_image_nr_files(im));
		pv = v;
	}
	REQUIRE(spice_image_vma(im, n, &v) == -ERANGE);

	n = spice_image_nr_extents(im);
	for (i = 0; i < n; i++) {
		REQUIRE(spice_image_extent(im, i, &e) == 0);
		REQUIRE(spice_image_vma(im, e.vma, &v) == 0);
		REQUIRE(v.start <= e.addr && e.addr + e.len <= v.end);
		REQUIRE(e.data_off >= h->data_off &&
			e.data_off + e.len <= h->image_size);
		got = spice_image_read_data(im, &e, data, sizeof(data));
		REQUIRE(got == (ssize_t)(e.len < sizeof(data) ?
					 e.len : sizeof(data)));
	}
	REQUIRE(spice_image_extent(im, n, &e) == -ERANGE);

	n = spice_image_nr_fds(im);
	for (i = 0; i < n; i++) {
		REQUIRE(spice_image_fd(im, i, &fd) == 0);
		REQUIRE(fd.fd >= 0);
		if (fd.kind == SNAPSHOT_FD_FILE)
			REQUIRE(fd.file < spice_image_nr_files(im));
	}
	REQUIRE(spice_image_fd(im, n, &fd) == -ERANGE);

	REQUIRE(spice_image_nr_sigactions(im) == 64);
	for (i = 0; i < 64; i++)
		REQUIRE(spice_image_sigaction(im, i, &sa) == 0);
	n = spice_image_nr_rlimits(im);
	REQUIRE(n >= 1 && n <= 16);
	for (i = 0; i < n; i++)
		REQUIRE(spice_image_rlimit(im, i, &rl) == 0);
	n = spice_image_nr_auxv(im);
	REQUIRE(n >= 2 && n % 2 == 0);
	for (i = 0; i < n; i++)
		REQUIRE(spice_image_auxv(im, i, &a) == 0);
	REQUIRE(spice_image_auxv(im, n - 2, &a) == 0 && a == 0);

	xsave = spice_image_xsave(im, &size);
	REQUIRE(xsave != NULL);
	for (i = 0, a = 0; i < size; i++)
		a += xsave[i];	/* ASan: the whole area is readable */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spice_image_error err;
	struct spice_image *im = NULL;
	unsigned char *buf;
	int ret;

	/* A copy the target may change, of exactly @len bytes for ASan. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	if (len)
		memcpy(buf, data, len);
	fix_checksums(buf, len);

	ret = spice_image_open_mem(buf, len, &im, &err);
	if (ret == 0) {
		REQUIRE(im != NULL && err.code == SPICE_IMAGE_E_NONE);
		REQUIRE(err.msg[0] == '\0');
		exercise(im, len);
		spice_image_close(im);
	} else {
		REQUIRE(err.code != SPICE_IMAGE_E_NONE);
		REQUIRE(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		REQUIRE(err.msg[0] != '\0');
		REQUIRE(ret == errno_of(err.code));
	}
	free(buf);
	return 0;
}
