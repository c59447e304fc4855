"""Django email backend for the Amazon SES Query API (2010-12-01)."""

__version__ = "0.1.0"
