app_name = "dicomweb"
urlpatterns: list = []
