/*
 * Write a set of small synthetic images to a directory: valid-*.img, which
 * libspice must accept, and bad-*.img, which it must reject. They feed the
 * tests of the spice command and are the fuzzer's seed corpus.
 *
 *   gen_images DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_builder.h"

static const char *dir;

static void put(const char *name, const struct ib_image *img, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.img", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(img->buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_images: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void build(struct ib_spec *s, struct ib_image *img)
{
	if (ib_build(s, img)) {
		fprintf(stderr, "gen_images: out of memory\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct snapshot_image_extent *e;
	struct ib_spec s;
	struct ib_image img;
	uint32_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_images DIR\n");
		return 2;
	}
	dir = argv[1];

	/* The default: every section, 7 VMAs, 5 extents, a working set. */
	ib_default(&s);
	build(&s, &img);
	put("valid-default", &img, img.len);

	/* Damaged copies of it. */
	img.buf[0] ^= 0x40;
	put("bad-magic", &img, img.len);
	img.buf[0] ^= 0x40;
	ib_header(&img)->version = 2;
	ib_fix(&img);
	put("bad-version", &img, img.len);
	ib_header(&img)->version = SNAPSHOT_IMAGE_VERSION;
	ib_fix(&img);
	/* An odd time_ns keeps the fuzz target from fixing checksums. */
	ib_header(&img)->time_ns |= 1;
	ib_fix(&img);
	img.buf[ib_desc(&img, SNAPSHOT_SECTION_VMAS)->offset + 9] ^= 1;
	put("bad-csum", &img, img.len);
	img.buf[ib_desc(&img, SNAPSHOT_SECTION_VMAS)->offset + 9] ^= 1;
	ib_header(&img)->time_ns &= ~1ULL;
	ib_fix(&img);
	put("bad-truncated", &img, 1000);
	e = ib_record(&img, SNAPSHOT_SECTION_EXTENTS, 2);
	e->addr = 0x601000;
	ib_fix(&img);
	put("bad-extent-overlap", &img, img.len);
	ib_free(&img);

	/* Without a working set, self-captured, no exe, one small VMA. */
	ib_default(&s);
	s.time_ns |= 1;		/* the fuzz target leaves its checksums alone */
	s.flags = SNAPSHOT_IMAGE_SELF;
	s.task.exe = SNAPSHOT_IMAGE_NONE;
	for (i = 0; i < s.nr_extents; i++)
		s.extents[i].flags = 0;
	s.nr_extents = 1;
	s.extents[0] = s.extents[1];
	s.nr_vmas = 3;
	s.vmas[0] = s.vmas[2];
	s.vmas[1] = s.vmas[5];
	s.vmas[2] = s.vmas[6];
	s.extents[0].vma = 0;
	s.nr_fds = 3;
	build(&s, &img);
	put("valid-self", &img, img.len);
	ib_free(&img);

	/* The smallest: no extents, files or fds; no page data at all. */
	ib_default(&s);
	s.flags = 0;
	s.nr_extents = 0;
	s.nr_files = 0;
	s.nr_fds = 0;
	s.nr_vmas = 1;
	s.vmas[0] = s.vmas[2];
	s.xsave_size = 0;
	s.nr_rlimits = 1;
	build(&s, &img);
	put("valid-minimal", &img, img.len);
	ib_free(&img);

	/* A newer writer: larger records and descriptors, a section it
	 * knows and this reader does not. */
	ib_default(&s);
	s.section_size = 48;
	s.entry_size[SNAPSHOT_SECTION_TASK] = sizeof(s.task) + 8;
	s.entry_size[SNAPSHOT_SECTION_VMAS] = sizeof(*s.vmas) + 16;
	s.entry_size[SNAPSHOT_SECTION_EXTENTS] = sizeof(*s.extents) + 8;
	s.entry_size[SNAPSHOT_SECTION_FDS] = sizeof(*s.fds) + 4;
	s.nr_extra = 1;
	s.extra[0].type = 100;
	s.extra[0].entry_size = 16;
	s.extra[0].nr_entries = 2;
	s.extra[0].size = 32;
	memcpy(s.extra[0].data, "a section from a newer writer....", 32);
	build(&s, &img);
	put("valid-newer", &img, img.len);
	ib_free(&img);

	/* ... and one it must not ignore. */
	ib_default(&s);
	s.nr_extra = 1;
	s.extra[0].type = 100;
	s.extra[0].flags = SNAPSHOT_SECTION_REQUIRED;
	s.extra[0].size = 8;
	build(&s, &img);
	put("bad-required", &img, img.len);
	ib_free(&img);
	return 0;
}
