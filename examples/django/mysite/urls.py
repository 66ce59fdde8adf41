from django.contrib import admin
from django.urls import path

from notes import views

urlpatterns = [
    path("", views.index, name="index"),
    path("notes/<int:note_id>/", views.detail, name="detail"),
    path("api/notes", views.api_notes, name="api-notes"),
    path("admin/", admin.site.urls),
]
