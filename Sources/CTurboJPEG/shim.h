// libjpeg-turbo's TurboJPEG API (tjInitDecompress, tjDecompressHeader3, tjDecompress2): JPEG pictures of a data folder.
#include <turbojpeg.h>
