// zlib: gzip-compressed data files (.gz) are inflated by zlib's gzip stream reader.
#include <zlib.h>
