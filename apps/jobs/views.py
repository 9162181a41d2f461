from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness for load balancers and docker-compose: the web process and its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
