"""Message parts shared by the tests."""

from email.message import MIMEPart
from email.mime.image import MIMEImage

import django

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6364f8cf50070003860180"
    "5a347d6b0000000049454e44ae426082"
)


def inline_image():
    """An inline image part, as each Django version takes it."""
    if django.VERSION >= (6, 0):
        # Django 6 deprecates legacy MIMEBase parts in favour of MIMEPart.
        image = MIMEPart()
        image.set_content(PNG, maintype="image", subtype="png", disposition="inline",
                          filename="logo.png", cid="<logo>")
    else:
        image = MIMEImage(PNG)
        image.add_header("Content-ID", "<logo>")
        image.add_header("Content-Disposition", "inline", filename="logo.png")
    return image
