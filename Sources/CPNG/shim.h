// libpng 1.6's simplified API (png_image_*): no setjmp/longjmp error handling, so Swift can call it.
#include <png.h>
