"""True positives: credentials written into code."""
POLYGON_API_KEY = "pk8Xq2LmZ7vR4tW9yB3nC6dF"
settings = {"api_token": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"}
client_secret = "9f8e7d6c5b4a3928171605f4e3d2c1b0"


def connect(factory):
    return factory(password="Tr0ub4dor&3xK9!zQ")
