// libgd (Debian's libgd-dev), used for media thumbnails.
#include <gd.h>
